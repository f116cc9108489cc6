"""The web UI's parts: one builder per tab (Chat, Search, Articles with its Feeds section), each
declaring its components once with the catalog keys of their texts, so switching the interface
language relabels every component from that one declaration. assistant/web.py assembles them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from assistant.admin import Admin, Caller
from assistant.chat import EXAMPLES, articles_table, search_markdown, status_markdown, stream_answer
from assistant.errors import NewsQAError
from assistant.feeds import format_interval
from assistant.feedview import feed_id, feeds_markdown
from assistant.llm import configured as llm_configured
from assistant.markup import md_lines
from assistant.messages import t
from assistant.service import NewsQA
from assistant.webguard import redact

SORTS = ("date", "title", "source", "chunks")
Text = str | Callable[[str], object]  # a catalog key, or a function of the language


class UiText:
    """The components whose texts follow the interface language, and how to relabel them."""

    def __init__(self, lang0: str) -> None:
        self.lang0 = lang0
        self._items: list[tuple[object, dict[str, Text]]] = []

    @staticmethod
    def render(text: Text, lang: str):
        return text(lang) if callable(text) else t(text, lang)

    def add(self, component, **texts: Text):
        """texts: component attribute -> catalog key, or a function of the language."""
        self._items.append((component, texts))
        return component

    def make(self, cls, texts: dict[str, Text], **kwargs):
        """`cls(**kwargs)` with its texts (attribute -> key or function) in the first language,
        registered for relabeling."""
        return self.add(cls(**{a: self.render(v, self.lang0) for a, v in texts.items()}, **kwargs), **texts)

    def labelled(self, cls, key: str, **kwargs):
        return self.make(cls, {"label": key}, **kwargs)

    def button(self, key: str, **kwargs):
        return self.make(gr.Button, {"value": key}, **kwargs)

    @property
    def components(self) -> list:
        return [c for c, _ in self._items]

    def updates(self, lang: str) -> list[dict]:
        return [{a: self.render(v, lang) for a, v in texts.items()} for _, texts in self._items]


@dataclass
class Page:
    """What every tab shares: the service, the admin actions, the relabeling registry, the
    language switch and the index status line."""

    qa: NewsQA
    admin: Admin
    ui: UiText
    lang: gr.Radio
    status: gr.Markdown
    source_choices: list[str]


@dataclass
class ChatParts:
    chatbot: gr.Chatbot
    saved_chat: gr.BrowserState


@dataclass
class ArticlesParts:
    query: gr.Textbox
    sort: gr.Dropdown
    table: gr.Dataframe
    feeds: gr.Markdown
    table_value: Callable[[str, str, str], dict]
    feeds_value: Callable[[str], str]


def _filters(page: Page, elem_id: str | None = None) -> tuple:
    """Source, date range and "prefer recent" inputs, as in the Chat settings and the Search tab."""
    ui = page.ui
    sources = ui.labelled(gr.Dropdown, "sources_filter", choices=page.source_choices, multiselect=True, scale=2,
                          **({"elem_id": elem_id} if elem_id else {}))
    date_from = ui.labelled(gr.Textbox, "date_from", scale=1)
    date_to = ui.labelled(gr.Textbox, "date_to", scale=1)
    recent = ui.labelled(gr.Checkbox, "recent", scale=1)
    return sources, date_from, date_to, recent


def chat_tab(page: Page) -> ChatParts:
    qa, ui = page.qa, page.ui
    modes = ["extractive", "llm"] if llm_configured(qa.settings) else ["extractive"]

    def chat(message: str, history: list, k: int, lang: str, mode: str, sources: list[str], date_from: str,
             date_to: str, recent: bool):
        yield from stream_answer(qa, message, history, k, lang, mode, sources, date_from, date_to, recent)

    with ui.labelled(gr.Tab, "chat_tab"):
        chatbot = ui.labelled(gr.Chatbot, "chat_tab", height=520, elem_id="chat")
        # The conversation survives a page reload: it lives in the browser's localStorage.
        saved_chat = gr.BrowserState([], storage_key="newsqa-chat")
        with gr.Row():
            question = ui.make(gr.Textbox, {"label": "question", "placeholder": "placeholder"}, scale=5,
                               max_length=qa.settings.max_question_chars * 10, elem_id="question")
            send = ui.button("send", variant="primary", scale=1, elem_id="send")
        with ui.labelled(gr.Accordion, "chat_settings", open=False, elem_id="chat-settings"):
            with gr.Row():
                k = ui.labelled(gr.Slider, "passages", minimum=1, maximum=10, value=qa.settings.top_k, step=1, scale=3)
                # The LLM choice exists only when a server is configured; quoting needs nothing.
                mode = ui.make(gr.Radio, {"label": "answer_mode",
                                          "choices": lambda lg: [(t(f"mode_{m}", lg), m) for m in modes]},
                               value=qa.settings.answer_mode if qa.settings.answer_mode in modes else "extractive",
                               scale=2)
            with gr.Row():
                filters = _filters(page)
        clear = ui.button("clear", size="sm", elem_id="clear")
        gr.Examples(EXAMPLES, inputs=question)
        inputs = [question, chatbot, k, page.lang, mode, *filters]
        for trigger in (send.click, question.submit):
            trigger(chat, inputs, chatbot, api_name="chat" if trigger == send.click else False,
                    concurrency_id="model").then(lambda: "", None, question, api_visibility="private")
        chatbot.change(lambda h: h, chatbot, saved_chat, api_visibility="private")
        clear.click(lambda: ([], []), None, [chatbot, saved_chat], api_visibility="private")
    return ChatParts(chatbot, saved_chat)


def search_tab(page: Page) -> None:
    qa, ui = page.qa, page.ui

    def search_view(query: str, k: int, lang: str, sources: list[str], date_from: str, date_to: str,
                    recent: bool) -> str:
        return search_markdown(qa, query, k, lang, sources, date_from, date_to, recent)

    with ui.labelled(gr.Tab, "search_tab"):
        with gr.Row():
            query = ui.labelled(gr.Textbox, "query", scale=5, elem_id="query")
            go = ui.button("search", variant="primary", scale=1, elem_id="search")
        with gr.Row():
            filters = _filters(page, elem_id="search-sources")
        k = ui.labelled(gr.Slider, "passages", minimum=1, maximum=20, value=10, step=1)
        results = gr.Markdown(elem_id="results")
        for trigger in (go.click, query.submit):
            trigger(search_view, [query, k, page.lang, *filters], results,
                    api_name="search_view" if trigger == go.click else False, concurrency_id="model")


def articles_tab(page: Page) -> ArticlesParts:
    qa, admin, ui = page.qa, page.admin, page.ui
    lang0 = ui.lang0

    def table(query: str, sort: str, lang: str) -> dict:
        return articles_table(admin.library.list_articles(query or "", sort or "date"), lang)

    def refreshed(text: str, lang: str, query: str, sort: str) -> tuple:
        # Messages quote titles and urls from the web: shown as literal text.
        return md_lines(redact(text, qa.settings)), table(query, sort, lang), status_markdown(qa.status(), lang)

    def admin_action(action, lang: str, query: str, sort: str, progress: gr.Progress):
        """Run an admin action; the result message, the refreshed table and the index status."""
        try:
            text = action(lambda frac, desc: progress(frac, desc=desc)).message(lang)
        except NewsQAError as exc:
            text = exc.message(lang)
        return refreshed(text, lang, query, sort)

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

    with ui.make(gr.Tab, {"label": "articles_tab"}, elem_id="articles-tab"):
        ui.make(gr.Markdown, {"value": "articles_help"})
        password = ui.labelled(gr.Textbox, "admin_password", type="password", visible=admin.protected,
                               elem_id="admin-password")
        with gr.Row():
            art_query = ui.labelled(gr.Textbox, "filter", scale=3, elem_id="art-query")
            art_sort = ui.make(gr.Dropdown, {"label": "sort",
                                             "choices": lambda lg: [(t(f"sort_{s}", lg), s) for s in SORTS]},
                               value="date", scale=1)
            refresh = ui.button("refresh", scale=0)
        art_table = gr.Dataframe(value=table("", "date", lang0), interactive=False, wrap=True, elem_id="articles",
                                 max_height=420, column_widths=["11%", "41%", "14%", "8%", "16%", "10%"])
        admin_result = gr.Markdown(elem_id="admin-result")
        with ui.labelled(gr.Accordion, "add_paste", open=True):
            p_title = ui.labelled(gr.Textbox, "art_title", elem_id="paste-title")
            p_text = ui.labelled(gr.Textbox, "art_text", lines=6, elem_id="paste-text")
            with gr.Row():
                p_date = ui.labelled(gr.Textbox, "art_date", elem_id="paste-date")
                p_url = ui.labelled(gr.Textbox, "art_url")
                p_source = ui.labelled(gr.Textbox, "art_source", elem_id="paste-source")
            p_add = ui.button("add", variant="primary", elem_id="paste-add")
        with ui.labelled(gr.Accordion, "add_upload", open=False):
            files = ui.labelled(gr.File, "files", file_count="multiple",
                                file_types=[".md", ".txt", ".html", ".htm", ".jsonl"])
            up_add = ui.button("add")
        with ui.labelled(gr.Accordion, "add_url", open=False):
            with gr.Row():
                url = ui.labelled(gr.Textbox, "url", scale=4)
                is_feed = ui.labelled(gr.Checkbox, "is_feed", scale=1)
            url_add = ui.button("fetch")
        with ui.labelled(gr.Accordion, "delete_title", open=False):
            del_id = ui.labelled(gr.Textbox, "delete_id")
            del_go = ui.button("delete", variant="stop")
        feeds = _feeds_section(page, password, admin_result, art_query, art_sort, art_table, refreshed)
        with gr.Row():
            full = ui.labelled(gr.Checkbox, "full_rebuild", scale=1)
            update_go = ui.button("update_index", scale=2, elem_id="update-index")
        listing = [art_query, art_sort]
        outputs = [admin_result, art_table, page.status]
        events = {"concurrency_id": "admin", "concurrency_limit": 1, "api_visibility": "private"}
        p_add.click(add_pasted, [password, p_title, p_text, p_date, p_url, p_source, page.lang, *listing], outputs,
                    **events)
        up_add.click(add_uploaded, [password, files, page.lang, *listing], outputs, **events)
        url_add.click(add_from_url, [password, url, is_feed, page.lang, *listing], outputs, **events)
        del_go.click(delete_article, [password, del_id, page.lang, *listing], outputs, **events)
        update_go.click(update_index, [password, full, page.lang, *listing], outputs, **events)
        refresh.click(feeds.value, [page.lang], feeds.table, api_visibility="private")
        for trigger in (refresh.click, art_query.submit, art_sort.change):
            trigger(table, [art_query, art_sort, page.lang], art_table, api_visibility="private")
    return ArticlesParts(art_query, art_sort, art_table, feeds.table, table, feeds.value)


@dataclass
class _Feeds:
    table: gr.Markdown
    value: Callable[[str], str]


def _feeds_section(page: Page, password, admin_result, art_query, art_sort, art_table, refreshed) -> _Feeds:
    qa, admin, ui = page.qa, page.admin, page.ui

    def feeds_view(lang: str) -> str:
        return feeds_markdown(admin.feeds.feeds(), lang, bool(admin.scheduler and admin.scheduler.running))

    def feed_action(action, lang: str, query: str, sort: str):
        """A feed action's message, the feed table, the article table and the index status."""
        try:
            text = action().message(lang)
        except NewsQAError as exc:
            text = exc.message(lang)
        message, articles, status = refreshed(text, lang, query, sort)
        return message, feeds_view(lang), articles, status

    def subscribe(password, url, every, source, full_text, lang, query, sort, request: gr.Request):
        return feed_action(lambda: admin.feed_add(password, url or "", every or None, source or "", bool(full_text),
                                                  caller=Caller.of(request)), lang, query, sort)

    def remove(password, raw_id, lang, query, sort, request: gr.Request):
        return feed_action(lambda: admin.feed_remove(password, feed_id(raw_id), caller=Caller.of(request)), lang,
                           query, sort)

    def poll(password, raw_id, lang, query, sort, request: gr.Request):
        return feed_action(lambda: admin.feed_poll(password, feed_id(raw_id, empty_ok=True),
                                                   caller=Caller.of(request)), lang, query, sort)

    with ui.make(gr.Accordion, {"label": "feeds_title"}, open=False, elem_id="feeds"):
        minimum = format_interval(max(1.0, qa.settings.feed_min_interval))
        ui.make(gr.Markdown, {"value": lambda lg: t("feeds_help", lg, minimum=minimum)})
        table = gr.Markdown(feeds_view(ui.lang0), elem_id="feeds-table")
        with gr.Row():
            url = ui.labelled(gr.Textbox, "feed_url", scale=4, max_length=2000, elem_id="feed-url")
            every = ui.labelled(gr.Textbox, "feed_every", scale=1, max_length=20, elem_id="feed-every")
            source = ui.labelled(gr.Textbox, "feed_source", scale=2, max_length=200)
            full = ui.labelled(gr.Checkbox, "feed_full_text", scale=1)
        add = ui.button("feed_subscribe", variant="primary", elem_id="feed-add")
        with gr.Row():
            fid = ui.labelled(gr.Textbox, "feed_id", scale=2, max_length=40, elem_id="feed-id")
            poll_go = ui.button("feed_poll", scale=1, elem_id="feed-poll")
            remove_go = ui.button("feed_remove", variant="stop", scale=1, elem_id="feed-remove")
    listing = [art_query, art_sort]
    outputs = [admin_result, table, art_table, page.status]
    events = {"concurrency_id": "admin", "concurrency_limit": 1, "api_visibility": "private"}
    add.click(subscribe, [password, url, every, source, full, page.lang, *listing], outputs, **events)
    remove_go.click(remove, [password, fid, page.lang, *listing], outputs, **events)
    poll_go.click(poll, [password, fid, page.lang, *listing], outputs, **events)
    return _Feeds(table, feeds_view)
