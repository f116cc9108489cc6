"""The web chat (Gradio). Wiring only: behaviour lives in assistant/."""

from __future__ import annotations

import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402 - analytics must be off before gradio is imported

from assistant.chat import EXAMPLES, label, search_markdown, status_markdown, stream_answer  # noqa: E402
from assistant.llm import configured as llm_configured  # noqa: E402
from assistant.service import NewsQA  # noqa: E402
from assistant.settings import Settings  # noqa: E402

log = logging.getLogger(__name__)


def build_app(qa: NewsQA) -> gr.Blocks:
    lang0 = qa.settings.ui_lang

    def chat(message: str, history: list, k: int, lang: str, mode: str):
        yield from stream_answer(qa, message, history, k, lang, mode)

    def search_view(query: str, k: int, lang: str, sources: list[str], date_from: str, date_to: str,
                    recent: bool) -> str:
        return search_markdown(qa, query, k, lang, sources, date_from, date_to, recent)

    def relabel(lang: str):
        return (
            status_markdown(qa.status(), lang),
            gr.update(label=label("question", lang), placeholder=label("placeholder", lang)),
            gr.update(value=label("send", lang)),
            gr.update(label=label("passages", lang)),
            gr.update(label=label("query", lang)),
            gr.update(value=label("search", lang)),
        )

    with gr.Blocks(title=label("title", lang0), analytics_enabled=False) as demo:
        with gr.Row():
            gr.Markdown(f"## {label('title', lang0)}\n{label('subtitle', lang0)}")
            lang = gr.Radio(["vi", "en"], value=lang0, label=label("language", lang0), scale=0, min_width=160)
        status = gr.Markdown(status_markdown(qa.status(), lang0))
        with gr.Tab(label("chat_tab", lang0)):
            chatbot = gr.Chatbot(height=520, label=label("chat_tab", lang0), elem_id="chat")
            with gr.Row():
                question = gr.Textbox(label=label("question", lang0), placeholder=label("placeholder", lang0),
                                      scale=5, max_length=qa.settings.max_question_chars * 10, elem_id="question")
                send = gr.Button(label("send", lang0), variant="primary", scale=1, elem_id="send")
            with gr.Row():
                k = gr.Slider(1, 10, value=qa.settings.top_k, step=1, label=label("passages", lang0), scale=3)
                # The LLM choice exists only when a server is configured; quoting needs nothing.
                modes = ["extractive", "llm"] if llm_configured(qa.settings) else ["extractive"]
                mode = gr.Radio(modes, value=qa.settings.answer_mode if qa.settings.answer_mode in modes else "extractive",
                                label=label("answer_mode", lang0), scale=1)
            gr.Examples(EXAMPLES, inputs=question)
            for trigger in (send.click, question.submit):
                trigger(chat, [question, chatbot, k, lang, mode], chatbot, api_name="chat" if trigger == send.click else False,
                        concurrency_id="model").then(lambda: "", None, question, api_visibility="private")
        with gr.Tab(label("search_tab", lang0)):
            with gr.Row():
                query = gr.Textbox(label=label("query", lang0), scale=5, elem_id="query")
                go = gr.Button(label("search", lang0), variant="primary", scale=1, elem_id="search")
            with gr.Row():
                sources = gr.Dropdown(qa.sources() if qa.status().ready else [], multiselect=True,
                                      label=label("sources_filter", lang0), scale=2)
                date_from = gr.Textbox(label=label("date_from", lang0), scale=1)
                date_to = gr.Textbox(label=label("date_to", lang0), scale=1)
                recent = gr.Checkbox(label=label("recent", lang0), scale=1)
            k_search = gr.Slider(1, 20, value=10, step=1, label=label("passages", lang0))
            results = gr.Markdown()
            for trigger in (go.click, query.submit):
                trigger(search_view, [query, k_search, lang, sources, date_from, date_to, recent], results,
                        api_name="search_view" if trigger == go.click else False, concurrency_id="model")
        lang.change(relabel, lang, [status, question, send, k, query, go], api_visibility="private")
        demo.load(lambda lg: status_markdown(qa.status(), lg), lang, status, api_visibility="private")

        # JSON endpoints for other programs (gradio_client): same answers as the chat.
        def ask(question: str, k: int = 5) -> dict:
            return qa.ask(question, k=int(k)).as_dict()

        def search(query: str, k: int = 5) -> list[dict]:
            return [h.as_dict() for h in qa.search(query, k=int(k))]

        def index_status() -> dict:
            return qa.status().as_dict()

        gr.api(ask, api_name="ask", concurrency_id="model")
        gr.api(search, api_name="search", concurrency_id="model")
        gr.api(index_status, api_name="status")
    return demo


def prepare(settings: Settings) -> NewsQA:
    """Load the model and the index before the first visitor arrives; build the index if missing."""
    qa = NewsQA(settings)
    if not qa.status().ready:
        log.warning("No index at %s: building it from %s", settings.index_dir, settings.corpus_dir)
        print(qa.build(show_progress=True).summary(), flush=True)
    qa.ask("warm-up")
    return qa


def serve(settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    qa = prepare(settings)
    demo = build_app(qa)
    # One model call at a time (it already uses every core); the rest wait in a bounded queue.
    demo.queue(default_concurrency_limit=1, max_size=256)
    demo.launch(server_name=settings.host, server_port=settings.port, share=False, show_error=False,
                footer_links=[])


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve()
