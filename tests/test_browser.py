"""The chat driven in a real browser (Debian's Chromium through Playwright): streamed answer with
its citation, the cited passage opened, the conversation kept across a reload, the Search tab with
a source filter. Screenshots of each step go to artifacts/screenshots/ (not committed)."""

from __future__ import annotations

import os
import shutil

import pytest

from assistant.settings import PROJECT_ROOT
from tests.conftest import CORPUS as CORPUS_DIR
from tests.conftest import GUIDING_EN, TASK_FRAGMENTS
from tests.helpers import serving

pytestmark = pytest.mark.slow
SHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("NEWSQA_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs it with apt-get install chromium")
        pytest.skip("no Chromium here (apt-get install chromium, or set NEWSQA_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def app_url(qa, tmp_path_factory):
    with serving(qa.settings, tmp_path_factory.mktemp("browser") / "app.log") as url:
        yield url


def chat_text(page) -> str:
    return page.inner_text("#chat")


def ask(page, question: str) -> None:
    page.fill("#question textarea", question)
    page.click("#send")


def test_chat_answer_citation_and_reload(browser, app_url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(app_url)
    page.wait_for_selector("#question textarea")
    ask(page, GUIDING_EN)
    # The answer streams in: some text first, the sources when it is complete.
    page.wait_for_function("document.querySelector('#chat').innerText.includes('Lương Thanh Bình')", timeout=60_000)
    page.wait_for_selector("#chat .thought-group", timeout=60_000)
    page.screenshot(path=SHOTS / "01-answer.png", full_page=True)
    text = chat_text(page)
    assert all(f in text for f in TASK_FRAGMENTS) and "[1]" in text

    source = page.locator("#chat .thought-group .title").first
    assert source.inner_text().startswith("[1] Sư đoàn 346")
    before = len(chat_text(page))
    source.click()
    page.wait_for_function(f"document.querySelector('#chat').innerText.length != {before}", timeout=10_000)
    page.screenshot(path=SHOTS / "02-source-opened.png", full_page=True)
    assert "Hải Biên" not in source.inner_text()

    page.reload()
    page.wait_for_selector("#question textarea")
    page.wait_for_function("document.querySelector('#chat').innerText.includes('Lương Thanh Bình')", timeout=30_000)
    page.screenshot(path=SHOTS / "03-after-reload.png", full_page=True)
    assert GUIDING_EN in chat_text(page)
    page.click("#clear")
    page.wait_for_function("!document.querySelector('#chat').innerText.includes('Lương Thanh Bình')", timeout=10_000)
    page.reload()
    page.wait_for_selector("#question textarea")
    page.wait_for_timeout(1500)
    assert GUIDING_EN not in chat_text(page)
    page.close()


def test_search_tab_with_a_source_filter(browser, app_url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(app_url)
    page.get_by_role("tab", name="Tìm kiếm").click()
    page.fill("#query textarea", "Nghị quyết 382 Sư đoàn 346")
    page.click("#search")
    page.wait_for_function("document.querySelector('#results') && "
                           "document.querySelector('#results').innerText.includes('score')", timeout=30_000)
    assert "Sư đoàn 346 tổng kết" in page.inner_text("#results")
    page.locator("#search-sources input").click()
    page.get_by_role("option", name="baomoi.com").click()
    page.keyboard.press("Escape")
    page.click("#search")
    page.wait_for_function("!document.querySelector('#results').innerText.includes('Sư đoàn 346 tổng kết')",
                           timeout=30_000)
    page.screenshot(path=SHOTS / "04-search-filtered.png", full_page=True)
    assert "baomoi.com" in page.inner_text("#results")
    page.close()


def test_phone_width_and_english_switch(browser, app_url):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(app_url)
    page.wait_for_selector("#question textarea")
    page.get_by_label("en").check()
    page.wait_for_function("document.body.innerText.includes('Answer settings')", timeout=10_000)
    ask(page, "dai ta luong thanh binh yeu cau nhung nhiem vu gi")
    page.wait_for_selector("#chat .thought-group", timeout=60_000)
    page.screenshot(path=SHOTS / "05-phone-english.png", full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"page scrolls sideways at phone width ({width}px)"
    assert TASK_FRAGMENTS[0] in chat_text(page)
    page.close()


@pytest.fixture(scope="module")
def admin_app(base_settings, embedder, tmp_path_factory):
    from index.updater import update_index

    root = tmp_path_factory.mktemp("browser-admin")
    shutil.copytree(CORPUS_DIR, root / "corpus")
    settings = base_settings.with_(index_dir=root / "idx", corpus_dir=root / "corpus")
    update_index(settings.index_config(), embedder)
    with serving(settings, root / "app.log", NEWSQA_ADMIN_PASSWORD="pw-browser") as url:
        yield url


def test_admin_adds_an_article_by_paste_and_the_chat_answers_from_it(browser, admin_app):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(admin_app)
    page.get_by_role("tab", name="Bài viết").click()
    page.fill("#paste-title textarea, #paste-title input", "Hợp tác xã Hoa Sen khánh thành nhà máy sấy vải thiều")
    page.fill("#paste-text textarea", "Hợp tác xã Hoa Sen ở huyện Lục Ngạn vừa khánh thành nhà máy sấy vải thiều "
                                      "công suất 40 tấn mỗi ngày, giúp nông dân không phải bán vải tươi giá rẻ.")
    page.fill("#paste-date textarea, #paste-date input", "20/06/2024")
    page.fill("#paste-source textarea, #paste-source input", "Báo Thử")
    page.click("#paste-add")
    # Gradio shows its queue status ("queue: 1/1 | 0.1s") in the output first: wait for the message itself.
    page.wait_for_function("document.querySelector('#admin-result').innerText.includes('mật khẩu')", timeout=60_000)
    assert "Sai hoặc thiếu mật khẩu quản trị" in page.inner_text("#admin-result")
    page.fill("#admin-password input", "pw-browser")
    page.click("#paste-add")
    page.wait_for_function("document.querySelector('#admin-result').innerText.includes('Đã cập nhật chỉ mục')",
                           timeout=120_000)
    page.screenshot(path=SHOTS / "06-admin-added.png", full_page=True)
    assert "Đã thêm" in page.inner_text("#admin-result") and "Hoa Sen" in page.inner_text("#articles")
    page.get_by_role("tab", name="Hỏi đáp").click()
    ask(page, "Nhà máy sấy vải của hợp tác xã Hoa Sen công suất bao nhiêu?")
    page.wait_for_selector("#chat .thought-group", timeout=60_000)
    page.screenshot(path=SHOTS / "07-answer-from-added.png", full_page=True)
    assert "40 tấn" in chat_text(page) and "Hợp tác xã Hoa Sen" in page.locator("#chat .thought-group .title").first.inner_text()
    page.close()


class LeakCatcher:
    """A loopback server that records every request: an external image or form post from the page
    would land here."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler

        from tests.helpers import LoopbackServer

        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            do_POST = do_GET

        self.server = LoopbackServer(Handler)

    def __enter__(self):
        self.server.__enter__()
        return self

    def __exit__(self, *exc):
        self.server.__exit__(*exc)


def evil_article(leak: str) -> dict:
    """An article as an attacker would post it: script, links and leaks in every field."""
    svg = '<svg width="40" height="20"><a href="javascript:window.__xss=1"><text y="15">bấm</text></a></svg>'
    return {
        "title": f"Hoa Sen độc hại {svg} <img src=\"{leak}/title-img\"> [bấm](javascript:window.__xss=1)",
        "source": f'<form action="{leak}/form"><input type="password" name="p"><button>Gửi</button></form>',
        "url": "javascript:window.__xss=1",
        "date": "2024-06-21",
        "text": "Hợp tác xã Hoa Sen độc hại khánh thành nhà máy sấy vải thiều công suất 55 tấn mỗi ngày. "
                f"![ảnh]({leak}/md-img) <img src=x onerror=\"window.__xss=1\"> {svg} "
                "[bấm vào đây](javascript:window.__xss=1) <style>body{display:none}</style> "
                f"<a href=\"javascript:window.__xss=1\">liên kết</a> <iframe src=\"{leak}/frame\"></iframe>",
    }


def assert_inert(page, selector: str, leak: LeakCatcher) -> None:
    """Nothing the article carried became live markup or ran. Links are checked, not clicked: an
    http(s) url in the text may be linked, and following it is the reader's choice."""
    for tag in ("svg a", "svg text", "form", "input[type=password]", "iframe", f"img[src^='{leak.server.base}']"):
        assert page.locator(f"{selector} {tag}").count() == 0, f"{tag} rendered in {selector}"
    styles = page.eval_on_selector_all(f"{selector} style", "els => els.map(e => e.textContent)")
    assert not any("display:none" in s for s in styles), "the article's <style> was rendered"
    hrefs = page.eval_on_selector_all(f"{selector} a", "els => els.map(e => e.getAttribute('href') || '')")
    assert all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
    handlers = page.eval_on_selector_all(f"{selector} *", "els => els.filter(e => [...e.attributes].some("
                                                           "a => a.name.startsWith('on'))).length")
    assert handlers == 0, "an element carries an inline event handler"
    assert page.evaluate("window.__xss") is None, "a script from the article ran"


def test_untrusted_article_fields_never_run_in_the_page(browser, admin_app):
    """Stored XSS: an article posted through the JSON API, shown in the Search tab, as a chat
    source, and in the Articles tab's messages; nothing it carries runs or loads."""
    import json
    import urllib.request

    with LeakCatcher() as leak:
        article = evil_article(leak.server.base)
        request = urllib.request.Request(admin_app + "api/articles", data=json.dumps(article).encode(),
                                         headers={"Content-Type": "application/json", "X-Admin-Password": "pw-browser"})
        with urllib.request.urlopen(request, timeout=120) as resp:
            assert resp.status == 200 and json.load(resp)["results"][0]["status"] == "error"  # not an http(s) url
        article["url"] = "https://example.org/hoa-sen?a=1&b=(2)\"onmouseover=\"window.__xss=1"
        with urllib.request.urlopen(urllib.request.Request(
                admin_app + "api/articles", data=json.dumps(article).encode(),
                headers={"Content-Type": "application/json", "X-Admin-Password": "pw-browser"}), timeout=120) as resp:
            assert json.load(resp)["results"][0]["status"] == "added"
            csp = resp.headers["Content-Security-Policy"]
        assert "img-src 'self'" in csp and "form-action 'self'" in csp and "object-src 'none'" in csp

        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(admin_app)
        page.get_by_role("tab", name="Tìm kiếm").click()
        page.fill("#query textarea", "Hoa Sen độc hại nhà máy sấy vải")
        page.click("#search")
        page.wait_for_function("document.querySelector('#results').innerText.includes('55 tấn')", timeout=30_000)
        page.screenshot(path=SHOTS / "08-xss-search.png", full_page=True)
        results = page.inner_text("#results")
        assert "<svg" in results and "javascript:window.__xss=1" in results  # shown as text, not markup
        assert_inert(page, "#results", leak)

        page.get_by_role("tab", name="Hỏi đáp").click()
        ask(page, "Nhà máy sấy vải của Hoa Sen độc hại công suất bao nhiêu?")
        page.wait_for_selector("#chat .thought-group", timeout=60_000)
        for title in page.locator("#chat .thought-group .title").all():
            title.click()
        page.wait_for_timeout(500)
        page.screenshot(path=SHOTS / "09-xss-chat.png", full_page=True)
        assert "55 tấn" in chat_text(page)
        assert_inert(page, "#chat", leak)

        page.get_by_role("tab", name="Bài viết").click()
        page.fill("#admin-password input", "pw-browser")
        page.fill("#paste-title textarea, #paste-title input", article["title"])
        page.fill("#paste-text textarea", article["text"])
        page.click("#paste-add")
        # The same article again: skipped as a duplicate, its title quoted in the message (Gradio's queue
        # status shows in the output first, so wait for the message itself).
        page.wait_for_function("document.querySelector('#admin-result').innerText.includes('Bỏ qua')", timeout=60_000)
        page.screenshot(path=SHOTS / "10-xss-admin.png", full_page=True)
        assert_inert(page, "#admin-result", leak)
        assert_inert(page, "#articles", leak)
        assert leak.hits == [], f"the page loaded {leak.hits}"
        page.close()
