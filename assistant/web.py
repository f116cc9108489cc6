"""The web app: Gradio UI (chat, search, articles) mounted in FastAPI beside the JSON API.
Wiring only: behaviour lives in the other assistant modules. `newsqa serve`, `make run` and
`python app.py` all start it through assistant.startup, which loads the model meanwhile."""

from __future__ import annotations

import ipaddress
import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402 - analytics must be off before gradio is imported

from assistant.admin import Admin  # noqa: E402
from assistant.api import create_api  # noqa: E402
from assistant.chat import status_markdown  # noqa: E402
from assistant.messages import t  # noqa: E402
from assistant.request import AskRequest  # noqa: E402
from assistant.scheduler import start_feed_polling  # noqa: E402
from assistant.service import NewsQA  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from assistant.webguard import SecurityHeaders  # noqa: E402
from assistant.webtabs import Page, UiText, articles_tab, chat_tab, search_tab  # noqa: E402

log = logging.getLogger(__name__)
def build_app(qa: NewsQA, admin: Admin) -> gr.Blocks:
    lang0 = qa.settings.ui_lang
    ui = UiText(lang0)
    with gr.Blocks(title=t("title", lang0), analytics_enabled=False) as demo:
        with gr.Row():
            ui.make(gr.Markdown, {"value": lambda lg: f"## {t('title', lg)}\n{t('subtitle', lg)}"})
            lang = gr.Radio(["vi", "en"], value=lang0, label=t("language", lang0), scale=0, min_width=160,
                            elem_id="lang")
        status = ui.make(gr.Markdown, {"value": lambda lg: status_markdown(qa.status(), lg)})
        page = Page(qa, admin, ui, lang, status, qa.sources() if qa.status().ready else [])
        chat = chat_tab(page)
        search_tab(page)
        articles = articles_tab(page)

        def relabel(lg: str, q: str, sort: str):
            return [gr.update(**u) for u in ui.updates(lg)] + [articles.table_value(q, sort, lg)]

        lang.change(relabel, [lang, articles.query, articles.sort], [*ui.components, articles.table],
                    api_visibility="private")
        lang.change(articles.feeds_value, [lang], articles.feeds, api_visibility="private")
        demo.load(articles.feeds_value, [lang], articles.feeds, api_visibility="private")
        demo.load(lambda lg, kept: (status_markdown(qa.status(), lg), kept or []), [lang, chat.saved_chat],
                  [status, chat.chatbot], api_visibility="private")

        # Endpoints for gradio_client users; the JSON API under /api/ serves everything else.
        def ask(question: str, k: int = 5) -> dict:
            return qa.ask(AskRequest(question, k=int(k))).as_dict()

        def search(query: str, k: int = 5) -> list[dict]:
            return [h.as_dict() for h in qa.search(query, k=int(k))]

        def index_status() -> dict:
            # Where the index lives on the server is not the visitor's business.
            return {k: v for k, v in qa.status().as_dict().items() if k != "index_dir"}

        gr.api(ask, api_name="ask", concurrency_id="model")
        gr.api(search, api_name="search", concurrency_id="model")
        gr.api(index_status, api_name="status")
    return demo


def _host_form(host: str) -> str:
    """As a Host header writes it: an IPv6 literal in brackets."""
    try:
        return f"[{host}]" if ipaddress.ip_address(host.strip("[]")).version == 6 else host
    except ValueError:
        return host


def trusted_hosts(settings: Settings) -> list[str]:
    extra = [h.strip() for h in settings.trusted_hosts.split(",") if h.strip()]
    if "*" in extra or (settings.host in ("0.0.0.0", "::") and not extra):
        return ["*"]
    own = [] if settings.host in ("0.0.0.0", "::") else [settings.host]
    return [_host_form(h) for h in ["localhost", "127.0.0.1", "::1", *own, *extra]]


def create_server(qa: NewsQA):
    """FastAPI app: the JSON API under /api/, the Gradio UI at /."""
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    admin = Admin(qa)
    if admin.disabled:
        log.warning("NEWSQA_ADMIN_PASSWORD is not set and the server listens on %s: adding, deleting and "
                    "rebuilding are disabled. Set a password to enable them.", qa.settings.host)
    hosts = trusted_hosts(qa.settings)
    if hosts == ["*"] and not qa.settings.trusted_hosts:
        log.warning("Listening on %s without NEWSQA_TRUSTED_HOSTS: every Host header is accepted. Set it to the "
                    "server's public names.", qa.settings.host)
    demo = build_app(qa, admin)
    # The model already uses every core: a few requests at a time, the rest wait in a bounded queue.
    demo.queue(default_concurrency_limit=qa.settings.queue_concurrency, max_size=qa.settings.queue_size)
    api = create_api(qa, admin)
    server = gr.mount_gradio_app(api, demo, path="/", footer_links=[], show_error=False,
                                 max_file_size=int(qa.settings.max_upload_mb * 1024 * 1024))
    server.add_middleware(SecurityHeaders)
    server.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    server.state.admin = admin  # `serve` starts the feed scheduler on it
    return server


def run_server(settings: Settings, server) -> None:
    """Serve `create_server`'s app until stopped (assistant.startup loads the model first)."""
    import uvicorn

    feeds = start_feed_polling(server.state.admin)
    log.info("Serving on http://%s:%d/ (API docs at /api/docs)", settings.host, settings.port)
    try:
        uvicorn.run(server, host=settings.host, port=settings.port, log_level="warning")
    finally:
        if feeds is not None:
            feeds.shutdown()

