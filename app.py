"""Entry point kept at the top level (`python app.py`): the web app lives in assistant.web, started
by assistant.startup."""

from assistant.startup import main

if __name__ == "__main__":
    main()
