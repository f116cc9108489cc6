"""The web app: Gradio UI (chat, search, articles) mounted in FastAPI beside the JSON API.
Wiring only: behaviour lives in the other assistant modules. `newsqa serve`, `make run` and
`python app.py` all start it through `serve`."""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402 - analytics must be off before gradio is imported

from assistant.admin import Admin, Caller  # noqa: E402
from assistant.api import create_api  # noqa: E402
from assistant.chat import (  # noqa: E402
    EXAMPLES,
    UiText,
    articles_table,
    label,
    search_markdown,
    status_markdown,
    stream_answer,
)
from assistant.errors import IndexFormatError, NewsQAError  # noqa: E402
from assistant.llm import configured as llm_configured  # noqa: E402
from assistant.logs import configure_logging  # noqa: E402
from assistant.markup import md_lines  # noqa: E402
from assistant.service import NewsQA  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from assistant.webguard import SecurityHeaders, redact  # noqa: E402

log = logging.getLogger(__name__)
SORTS = ("date", "title", "source", "chunks")


def build_app(qa: NewsQA, admin: Admin) -> gr.Blocks:
    lang0 = qa.settings.ui_lang
    ui = UiText()
    modes = ["extractive", "llm"] if llm_configured(qa.settings) else ["extractive"]
    source_choices = qa.sources() if qa.status().ready else []

    def chat(message: str, history: list, k: int, lang: str, mode: str, sources: list[str], date_from: str,
             date_to: str, recent: bool):
        yield from stream_answer(qa, message, history, k, lang, mode, sources, date_from, date_to, recent)

    def search_view(query: str, k: int, lang: str, sources: list[str], date_from: str, date_to: str,
                    recent: bool) -> str:
        return search_markdown(qa, query, k, lang, sources, date_from, date_to, recent)

    def table(query: str, sort: str, lang: str) -> dict:
        return articles_table(admin.library.list_articles(query or "", sort or "date"), lang)

    def admin_action(action, lang: str, query: str, sort: str, progress: gr.Progress):
        """Run an admin action; the result message, the refreshed table and the index status.
        Messages quote titles and urls from the web: shown as literal text."""
        try:
            text = action(lambda frac, desc: progress(frac, desc=desc)).message(lang)
        except NewsQAError as exc:
            text = exc.message(lang)
        return md_lines(redact(text, qa.settings)), table(query, sort, lang), status_markdown(qa.status(), lang)

    def add_pasted(password, title, text, date, url, source, lang, query, sort, request: gr.Request,
                   progress=gr.Progress()):
        return admin_action(lambda p: admin.add_text(password, title, text, date, url, source, p,
                                                     caller=Caller.of(request)), lang, query, sort, progress)

    def add_uploaded(password, files, lang, query, sort, request: gr.Request, progress=gr.Progress()):
        def blobs():
            return [(Path(f).name, Path(f).read_bytes()) for f in files or []]
        return admin_action(lambda p: admin.add_files(password, blobs, p, caller=Caller.of(request)), lang, query, sort,
                            progress)

    def add_from_url(password, url, feed, lang, query, sort, request: gr.Request, progress=gr.Progress()):
        return admin_action(lambda p: admin.add_url(password, url or "", bool(feed), p, caller=Caller.of(request)),
                            lang, query, sort, progress)

    def delete_article(password, article_id, lang, query, sort, request: gr.Request, progress=gr.Progress()):
        return admin_action(lambda p: admin.delete(password, (article_id or "").strip(), p, caller=Caller.of(request)),
                            lang, query, sort, progress)

    def update_index(password, full, lang, query, sort, request: gr.Request, progress=gr.Progress()):
        return admin_action(lambda p: admin.update(password, bool(full), p, caller=Caller.of(request)), lang, query,
                            sort, progress)

    with gr.Blocks(title=label("title", lang0), analytics_enabled=False) as demo:
        with gr.Row():
            ui.add(gr.Markdown(f"## {label('title', lang0)}\n{label('subtitle', lang0)}"),
                   value=lambda lg: f"## {label('title', lg)}\n{label('subtitle', lg)}")
            lang = gr.Radio(["vi", "en"], value=lang0, label=label("language", lang0), scale=0, min_width=160,
                            elem_id="lang")
        status = ui.add(gr.Markdown(status_markdown(qa.status(), lang0)),
                        value=lambda lg: status_markdown(qa.status(), lg))

        with ui.add(gr.Tab(label("chat_tab", lang0)), label="chat_tab"):
            chatbot = ui.add(gr.Chatbot(height=520, label=label("chat_tab", lang0), elem_id="chat"), label="chat_tab")
            # The conversation survives a page reload: it lives in the browser's localStorage.
            saved_chat = gr.BrowserState([], storage_key="newsqa-chat")
            with gr.Row():
                question = ui.add(gr.Textbox(label=label("question", lang0), placeholder=label("placeholder", lang0),
                                             scale=5, max_length=qa.settings.max_question_chars * 10,
                                             elem_id="question"),
                                  label="question", placeholder="placeholder")
                send = ui.add(gr.Button(label("send", lang0), variant="primary", scale=1, elem_id="send"),
                              value="send")
            with ui.add(gr.Accordion(label("chat_settings", lang0), open=False, elem_id="chat-settings"),
                        label="chat_settings"):
                with gr.Row():
                    k = ui.add(gr.Slider(1, 10, value=qa.settings.top_k, step=1, label=label("passages", lang0),
                                         scale=3), label="passages")
                    # The LLM choice exists only when a server is configured; quoting needs nothing.
                    mode = ui.add(gr.Radio([(label(f"mode_{m}", lang0), m) for m in modes],
                                           value=qa.settings.answer_mode if qa.settings.answer_mode in modes
                                           else "extractive", label=label("answer_mode", lang0), scale=2),
                                  label="answer_mode", choices=lambda lg: [(label(f"mode_{m}", lg), m) for m in modes])
                with gr.Row():
                    chat_sources = ui.add(gr.Dropdown(source_choices, multiselect=True,
                                                      label=label("sources_filter", lang0), scale=2),
                                          label="sources_filter")
                    chat_from = ui.add(gr.Textbox(label=label("date_from", lang0), scale=1), label="date_from")
                    chat_to = ui.add(gr.Textbox(label=label("date_to", lang0), scale=1), label="date_to")
                    chat_recent = ui.add(gr.Checkbox(label=label("recent", lang0), scale=1), label="recent")
            clear = ui.add(gr.Button(label("clear", lang0), size="sm", elem_id="clear"), value="clear")
            gr.Examples(EXAMPLES, inputs=question)
            chat_inputs = [question, chatbot, k, lang, mode, chat_sources, chat_from, chat_to, chat_recent]
            for trigger in (send.click, question.submit):
                trigger(chat, chat_inputs, chatbot, api_name="chat" if trigger == send.click else False,
                        concurrency_id="model").then(lambda: "", None, question, api_visibility="private")
            chatbot.change(lambda h: h, chatbot, saved_chat, api_visibility="private")
            clear.click(lambda: ([], []), None, [chatbot, saved_chat], api_visibility="private")

        with ui.add(gr.Tab(label("search_tab", lang0)), label="search_tab"):
            with gr.Row():
                query = ui.add(gr.Textbox(label=label("query", lang0), scale=5, elem_id="query"), label="query")
                go = ui.add(gr.Button(label("search", lang0), variant="primary", scale=1, elem_id="search"),
                            value="search")
            with gr.Row():
                sources = ui.add(gr.Dropdown(source_choices, multiselect=True, label=label("sources_filter", lang0),
                                             scale=2, elem_id="search-sources"), label="sources_filter")
                date_from = ui.add(gr.Textbox(label=label("date_from", lang0), scale=1), label="date_from")
                date_to = ui.add(gr.Textbox(label=label("date_to", lang0), scale=1), label="date_to")
                recent = ui.add(gr.Checkbox(label=label("recent", lang0), scale=1), label="recent")
            k_search = ui.add(gr.Slider(1, 20, value=10, step=1, label=label("passages", lang0)), label="passages")
            results = gr.Markdown(elem_id="results")
            for trigger in (go.click, query.submit):
                trigger(search_view, [query, k_search, lang, sources, date_from, date_to, recent], results,
                        api_name="search_view" if trigger == go.click else False, concurrency_id="model")

        with ui.add(gr.Tab(label("articles_tab", lang0), elem_id="articles-tab"), label="articles_tab"):
            ui.add(gr.Markdown(label("articles_help", lang0)), value="articles_help")
            password = ui.add(gr.Textbox(type="password", label=label("admin_password", lang0),
                                         visible=admin.protected, elem_id="admin-password"), label="admin_password")
            with gr.Row():
                art_query = ui.add(gr.Textbox(label=label("filter", lang0), scale=3, elem_id="art-query"),
                                   label="filter")
                art_sort = ui.add(gr.Dropdown([(label(f"sort_{s}", lang0), s) for s in SORTS], value="date",
                                              label=label("sort", lang0), scale=1),
                                  label="sort", choices=lambda lg: [(label(f"sort_{s}", lg), s) for s in SORTS])
                refresh = ui.add(gr.Button(label("refresh", lang0), scale=0), value="refresh")
            art_table = gr.Dataframe(value=table("", "date", lang0), interactive=False, wrap=True,
                                     elem_id="articles", max_height=420,
                                     column_widths=["11%", "41%", "14%", "8%", "16%", "10%"])
            admin_result = gr.Markdown(elem_id="admin-result")
            with ui.add(gr.Accordion(label("add_paste", lang0), open=True), label="add_paste"):
                p_title = ui.add(gr.Textbox(label=label("art_title", lang0), elem_id="paste-title"), label="art_title")
                p_text = ui.add(gr.Textbox(label=label("art_text", lang0), lines=6, elem_id="paste-text"),
                                label="art_text")
                with gr.Row():
                    p_date = ui.add(gr.Textbox(label=label("art_date", lang0), elem_id="paste-date"), label="art_date")
                    p_url = ui.add(gr.Textbox(label=label("art_url", lang0)), label="art_url")
                    p_source = ui.add(gr.Textbox(label=label("art_source", lang0), elem_id="paste-source"),
                                      label="art_source")
                p_add = ui.add(gr.Button(label("add", lang0), variant="primary", elem_id="paste-add"), value="add")
            with ui.add(gr.Accordion(label("add_upload", lang0), open=False), label="add_upload"):
                files = ui.add(gr.File(file_count="multiple", file_types=[".md", ".txt", ".html", ".htm", ".jsonl"],
                                       label=label("files", lang0)), label="files")
                up_add = ui.add(gr.Button(label("add", lang0)), value="add")
            with ui.add(gr.Accordion(label("add_url", lang0), open=False), label="add_url"):
                with gr.Row():
                    url = ui.add(gr.Textbox(label=label("url", lang0), scale=4), label="url")
                    is_feed = ui.add(gr.Checkbox(label=label("is_feed", lang0), scale=1), label="is_feed")
                url_add = ui.add(gr.Button(label("fetch", lang0)), value="fetch")
            with ui.add(gr.Accordion(label("delete_title", lang0), open=False), label="delete_title"):
                del_id = ui.add(gr.Textbox(label=label("delete_id", lang0)), label="delete_id")
                del_go = ui.add(gr.Button(label("delete", lang0), variant="stop"), value="delete")
            with gr.Row():
                full = ui.add(gr.Checkbox(label=label("full_rebuild", lang0), scale=1), label="full_rebuild")
                update_go = ui.add(gr.Button(label("update_index", lang0), scale=2, elem_id="update-index"),
                                   value="update_index")
            listing = [art_query, art_sort]
            outputs = [admin_result, art_table, status]
            admin_events = {"concurrency_id": "admin", "concurrency_limit": 1, "api_visibility": "private"}
            p_add.click(add_pasted, [password, p_title, p_text, p_date, p_url, p_source, lang, *listing], outputs,
                        **admin_events)
            up_add.click(add_uploaded, [password, files, lang, *listing], outputs, **admin_events)
            url_add.click(add_from_url, [password, url, is_feed, lang, *listing], outputs, **admin_events)
            del_go.click(delete_article, [password, del_id, lang, *listing], outputs, **admin_events)
            update_go.click(update_index, [password, full, lang, *listing], outputs, **admin_events)
            for trigger in (refresh.click, art_query.submit, art_sort.change):
                trigger(table, [art_query, art_sort, lang], art_table, api_visibility="private")

        def relabel(lg: str, q: str, sort: str):
            return [gr.update(**u) for u in ui.updates(lg)] + [table(q, sort, lg)]

        lang.change(relabel, [lang, art_query, art_sort], [*ui.components, art_table], api_visibility="private")
        demo.load(lambda lg, kept: (status_markdown(qa.status(), lg), kept or []), [lang, saved_chat],
                  [status, chatbot], api_visibility="private")

        # Endpoints for gradio_client users; the JSON API under /api/ serves everything else.
        def ask(question: str, k: int = 5) -> dict:
            return qa.ask(question, k=int(k)).as_dict()

        def search(query: str, k: int = 5) -> list[dict]:
            return [h.as_dict() for h in qa.search(query, k=int(k))]

        def index_status() -> dict:
            # Where the index lives on the server is not the visitor's business.
            return {k: v for k, v in qa.status().as_dict().items() if k != "index_dir"}

        gr.api(ask, api_name="ask", concurrency_id="model")
        gr.api(search, api_name="search", concurrency_id="model")
        gr.api(index_status, api_name="status")
    return demo


def prepare(settings: Settings) -> NewsQA:
    """Load the model and the index before the first visitor arrives; build the index if missing."""
    qa = NewsQA(settings)
    try:
        ready = qa.status().ready
    except IndexFormatError as exc:
        # Written by an older version of this program: same model, so rebuilding is safe and cheap.
        log.warning("%s Rebuilding it now.", exc)
        ready = False
    if not ready:
        log.warning("Building the index at %s from %s", settings.index_dir, settings.corpus_dir)
        log.warning(qa.update(full=True, show_progress=True).summary())
    # Loads the model and opens the index; a search is enough (an ask also encoded sentences: +1.7 s).
    qa.search("warm-up", k=1)
    return qa


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
    return server


def serve(settings: Settings | None = None) -> None:
    import uvicorn

    settings = settings or Settings.from_env()
    server = create_server(prepare(settings))
    log.info("Serving on http://%s:%d/ (API docs at /api/docs)", settings.host, settings.port)
    uvicorn.run(server, host=settings.host, port=settings.port, log_level="warning")


def main() -> None:
    configure_logging()
    serve()
