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
    update_index(settings, embedder)
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
    page.wait_for_function("document.querySelector('#admin-result').innerText.length > 10", timeout=60_000)
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
