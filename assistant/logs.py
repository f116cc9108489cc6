"""Server logging: one JSON object per line (NEWSQA_LOG_FORMAT=json, the default for the server) or
plain text. Records may carry `extra={"fields": {...}}`, which become top-level keys in JSON."""

from __future__ import annotations

import datetime as dt
import json
import logging

from assistant.settings import Settings

# Third-party loggers that chat at INFO: kept at WARNING in server logs, and in the CLI unless --verbose.
NOISY_LOGGERS = ("httpx", "sentence_transformers", "transformers", "faiss", "bm25s", "uvicorn.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        return f"{text} {' '.join(f'{k}={v}' for k, v in fields.items())}" if fields else text


def configure_logging(settings: Settings | None = None, level: int = logging.INFO) -> None:
    settings = settings or Settings.from_env()
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
