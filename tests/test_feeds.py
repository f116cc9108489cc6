"""Feed subscriptions (issue #20): polls against a real local news site that changes between polls,
with the real model, FAISS and SQLite. Faults: 404, timeout, HTML, malformed XML, a huge feed,
duplicate GUIDs, items without dates or links, a moved feed, kill -9 during a poll, two pollers."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import subprocess
import sys
import threading
import time

import pytest
from fastapi.testclient import TestClient

from assistant.admin import Admin
from assistant.api import create_api
from assistant.errors import InputError
from assistant.feeds import FEED_USER_AGENT, FeedPoller, parse_interval
from assistant.feedstore import parse_iso
from assistant.feedview import feed_id, feeds_markdown
from assistant.library import ADDED_DIR, Library
from assistant.scheduler import FeedScheduler, start_feed_polling
from assistant.service import NewsQA
from index.builder import locked
from index.layout import current_version
from index.reader import check_index
from tests.conftest import CORPUS, PASSWORD
from tests.feed_server import Fault, FeedServer, Item
from tests.helpers import child_env, run_cli

# Articles of the local site: (title, paragraphs). Each states a fact a question can ask for.
ARTICLES = {
    "/a/cau.html": ("Đà Nẵng khởi công cầu Sông Hàn mới", [
        "Sáng 12/4, thành phố Đà Nẵng khởi công cầu Sông Hàn mới dài 1,5 km với tổng vốn 3.200 tỷ đồng.",
        "Theo ban quản lý dự án, cầu dự kiến hoàn thành vào năm 2027 và giúp giảm ùn tắc cho trung tâm thành phố."]),
    "/a/gao.html": ("Xuất khẩu gạo quý I đạt 2,1 triệu tấn", [
        "Trong quý I, Việt Nam xuất khẩu 2,1 triệu tấn gạo, thu về 1,3 tỷ USD, tăng 20% so với cùng kỳ.",
        "Philippines tiếp tục là thị trường nhập khẩu gạo lớn nhất của Việt Nam trong ba tháng đầu năm."]),
    "/a/soi.html": ("Hà Nội tiêm vắc xin sởi cho 50.000 trẻ em", [
        "Sở Y tế Hà Nội cho biết đã tiêm vắc xin sởi cho 50.000 trẻ em từ một đến năm tuổi trong tháng 4.",
        "Các trạm y tế phường mở cửa cả cuối tuần để phụ huynh đưa con đi tiêm đúng lịch."]),
    "/a/metro.html": ("Metro số 1 TP.HCM đón 10 triệu lượt khách", [
        "Tuyến metro số 1 Bến Thành - Suối Tiên đã phục vụ 10 triệu lượt hành khách sau sáu tháng vận hành.",
        "Công ty vận hành cho biết giờ cao điểm mỗi chuyến tàu chở khoảng 900 người."]),
    "/a/ca-phe.html": ("Giá cà phê Tây Nguyên lên 120.000 đồng mỗi kg", [
        "Giá cà phê nhân xô tại Đắk Lắk sáng nay lên mức kỷ lục 120.000 đồng mỗi kg.",
        "Nông dân Tây Nguyên phấn khởi nhưng lo ngại sản lượng vụ tới giảm do hạn hán kéo dài."]),
}
QUESTIONS = {
    "/a/cau.html": ("Cầu Sông Hàn mới dài bao nhiêu?", "1,5 km"),
    "/a/gao.html": ("Quý I Việt Nam xuất khẩu bao nhiêu gạo?", "2,1 triệu tấn"),
    "/a/soi.html": ("Hà Nội tiêm vắc xin sởi cho bao nhiêu trẻ em?", "50.000 trẻ em"),
    "/a/metro.html": ("Metro số 1 phục vụ bao nhiêu lượt khách?", "10 triệu lượt"),
}


def item(path: str, guid: str = "", description: str = "", date: str = "2024-04-12", **kw) -> Item:
    return Item(guid=guid or f"guid{path}", title=ARTICLES[path][0], link=path,
                description=description or ARTICLES[path][1][0][:120], date=date, **kw)


@pytest.fixture(scope="module")
def site():
    with FeedServer() as server:
        for path, (title, paragraphs) in ARTICLES.items():
            server.set_page(path, title, *paragraphs)
        yield server


@pytest.fixture(scope="module")
def template(tmp_path_factory, base_settings, embedder):
    """A small corpus and its index, built once; each test works on a copy."""
    root = tmp_path_factory.mktemp("feeds-template")
    (root / "corpus").mkdir()
    shutil.copy(CORPUS / "0001-su-doan-346-nghi-quyet-382.md", root / "corpus")
    settings = base_settings.with_(index_dir=root / "idx", corpus_dir=root / "corpus")
    NewsQA(settings, embedder=embedder).update()
    return root


@pytest.fixture
def env(tmp_path, template, base_settings, embedder, site):
    """(settings, qa, poller) over a copy of the template index, loopback fetching allowed, a 1 s
    minimum interval and a 1 s fetch timeout."""
    shutil.copytree(template / "corpus", tmp_path / "corpus")
    shutil.copytree(template / "idx", tmp_path / "idx")
    site.feeds.clear()
    site.faults.clear()
    site.requests.clear()
    for path, (title, paragraphs) in ARTICLES.items():
        site.set_page(path, title, *paragraphs)
    settings = base_settings.with_(index_dir=tmp_path / "idx", corpus_dir=tmp_path / "corpus",
                                   fetch_allow_private="127.0.0.1", fetch_timeout=1.0, feed_min_interval=1.0,
                                   feed_max_entries=5, admin_password=PASSWORD)
    qa = NewsQA(settings, embedder=embedder)
    return settings, qa, FeedPoller(settings, qa=qa)


def added_files(settings) -> list:
    return sorted((settings.corpus_dir / ADDED_DIR).glob("*.md")) if (settings.corpus_dir / ADDED_DIR).is_dir() else []


def indexed_ids(settings) -> list[str]:
    return [r.id for r in Library(settings).list_articles()]


def assert_answers(qa: NewsQA, path: str, ask: bool = False) -> str:
    """The article of `path` answers its question: as the top search hit, or (ask=True) as NewsQA's
    cited answer. Returns its id."""
    question, fact = QUESTIONS[path]
    if not ask:
        hits = qa.search(question, k=1)
        assert hits and fact in hits[0].text, (question, hits[:1])
        return hits[0].article_id
    ans = qa.ask(question)
    assert ans.found and fact in ans.answer, (question, ans.answer)
    return ans.citations[0].article_id


def test_poll_adds_new_items_in_one_update_then_idles_on_304(env, site, caplog):
    settings, qa, poller = env
    site.set_feed("/rss.xml", [item("/a/cau.html"), item("/a/gao.html")])
    feed = poller.subscribe(f"{site.url}/rss.xml", "1s", "Báo Thử")
    before = current_version(settings.index_dir).name
    with caplog.at_level(logging.INFO, logger="assistant.feeds"):
        first = poller.poll(feed.id)
    assert (first.status, first.added, first.http) == ("ok", 2, 200), first.message()
    assert "Index updated" in first.update_text("en") and "2 added" in first.update_text("en")
    assert "Chỉ mục đã cập nhật" in first.update_text("vi") and first.update.key == "feed_index_updated"
    cau = assert_answers(qa, "/a/cau.html", ask=True)
    assert cau in first.article_ids and assert_answers(qa, "/a/gao.html") in first.article_ids
    # Summary-only items: their pages were fetched, politely.
    page_hits = site.hits("/a/cau.html")
    assert len(page_hits) == 1 and page_hits[0]["user-agent"] == FEED_USER_AGENT
    assert site.hits("/rss.xml")[0]["user-agent"] == FEED_USER_AGENT
    version = current_version(settings.index_dir).name
    assert version != before
    lines = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "feed_poll"]
    assert len(lines) == 1 and lines[0].fields["added"] == 2 and lines[0].fields["status"] == "ok"

    # Nothing new: a conditional GET answered 304, no page fetched, no index update.
    idle = poller.poll(feed.id)
    assert (idle.status, idle.http, idle.added) == ("not_modified", 304, 0)
    assert site.hits("/rss.xml")[-1]["if-none-match"]
    assert len(site.hits("/a/cau.html")) == 1 and current_version(settings.index_dir).name == version

    # A third item, with its full text in the feed: taken without fetching its page, one more version.
    full = " ".join(ARTICLES["/a/soi.html"][1]) * 4
    site.set_feed("/rss.xml", [item("/a/cau.html"), item("/a/gao.html"),
                               Item(guid="soi", title=ARTICLES["/a/soi.html"][0], link="/a/not-served.html",
                                    content=full, date="2024-04-20")])
    third = poller.poll(feed.id)
    assert (third.status, third.added, third.seen) == ("ok", 1, 2)
    assert not site.hits("/a/not-served.html")
    assert_answers(qa, "/a/soi.html")
    state = poller.store.get(feed.id)
    assert state.added_total == 3 and state.last_added == 1 and state.failures == 0 and not state.error("en")
    assert state.last_success and parse_iso(state.next_poll) >= parse_iso(state.last_poll)
    assert len(added_files(settings)) == 3 and sorted(indexed_ids(settings)).count(cau) == 1


def test_changed_item_replaces_its_article_in_place(env, site):
    settings, qa, poller = env
    site.set_feed("/rss.xml", [item("/a/metro.html", guid="metro")])
    feed = poller.subscribe(f"{site.url}/rss.xml", "1s")
    first = poller.poll(feed.id)
    assert first.added == 1
    article_id = assert_answers(qa, "/a/metro.html")
    # The newsroom corrects the article: same GUID, new text on the page and in the summary.
    site.set_page("/a/metro.html", ARTICLES["/a/metro.html"][0],
                  "Tuyến metro số 1 Bến Thành - Suối Tiên đã phục vụ 12 triệu lượt hành khách sau sáu tháng vận hành.",
                  ARTICLES["/a/metro.html"][1][1])
    site.set_feed("/rss.xml", [item("/a/metro.html", guid="metro", description="Đính chính: 12 triệu lượt")])
    second = poller.poll(feed.id)
    assert (second.added, second.updated) == (0, 1) and "1 changed" in second.update_text("en")
    hits = qa.search("Metro số 1 phục vụ bao nhiêu lượt khách?", k=3)
    assert "12 triệu lượt" in hits[0].text and hits[0].article_id == article_id
    assert not [h for h in hits if "10 triệu lượt hành khách" in h.text]
    assert [p.stem for p in added_files(settings)] == [article_id]
    saved = added_files(settings)[0].read_text(encoding="utf-8")
    assert "12 triệu lượt hành khách" in saved and "10 triệu lượt hành khách" not in saved


FAULTS = {
    "404": Fault(status=404, body=b"gone"),
    "timeout": Fault(delay=2.5, body=b"<rss/>", content_type="application/rss+xml"),
    "html": Fault(body=b"<!doctype html><html><body><p>Trang ch\xe1\xbb\xa7</p></body></html>", content_type="text/html"),
    "malformed": Fault(body=b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item>'
                            b"<title>Half an item", content_type="application/rss+xml"),
}
EXPECTED = {"404": ("404", "404"), "timeout": ("no answer within", "không trả lời"),
            "html": ("not an RSS/Atom feed", "không phải nguồn RSS/Atom"),
            "malformed": ("not well-formed XML", "không phải XML hợp lệ")}


@pytest.mark.parametrize("kind", list(FAULTS))
def test_faulty_feed_reports_backs_off_and_recovers(env, site, kind):
    settings, qa, poller = env
    site.set_feed("/rss.xml", [item("/a/ca-phe.html", guid="cf")])
    site.fault("/rss.xml", FAULTS[kind])
    feed = poller.subscribe(f"{site.url}/rss.xml", "1s")
    version = current_version(settings.index_dir).name
    for failures in (1, 2):
        result = poller.poll(feed.id)
        assert result.status == "error" and result.added == 0, result.message()
        state = poller.store.get(feed.id)
        en, vi = EXPECTED[kind]
        assert en in state.error("en") and vi in state.error("vi") and state.failures == failures
        assert state.error_key and result.error.key == state.error_key  # kept as a key, worded when read
        assert state.last_status == "error" and not state.last_success
        waited = (parse_iso(state.next_poll) - parse_iso(state.last_poll)).total_seconds()
        assert waited >= 2 ** failures - 1  # 1 s interval, doubled per failure (second-rounded stamps)
    assert not added_files(settings) and current_version(settings.index_dir).name == version
    assert en in result.message("en") and vi in result.message("vi")
    site.fault("/rss.xml", None)
    fixed = poller.poll(feed.id)
    assert (fixed.status, fixed.added) == ("ok", 1)
    state = poller.store.get(feed.id)
    assert state.failures == 0 and not state.error("en") and not state.error("vi") and state.last_success
    waited = (parse_iso(state.next_poll) - parse_iso(state.last_poll)).total_seconds()
    assert waited < 3


def test_huge_feed_duplicate_guids_and_items_without_dates_or_links(env, site):
    settings, qa, poller = env
    long_title = "Bản tin " + "rất dài " * 800
    items = [
        Item(guid="dup", title="Giá cà phê Tây Nguyên lên 120.000 đồng mỗi kg", link="/a/ca-phe.html"),  # no date
        Item(guid="dup", title="Bản sao cùng GUID", link="/a/metro.html", date="2024-04-01"),
        Item(guid="x" * 5000, title=long_title, content="Bản tin không có liên kết: " + "Tỉnh Quảng Trị trồng mới "
             "1.000 ha rừng ngập mặn để chống xói lở bờ biển và bảo vệ hệ sinh thái ven biển. " * 3),
        Item(guid="title-only", title="Chỉ có tiêu đề"),
    ] + [Item(guid=f"bulk-{i}", title=f"Bản tin số {i}", content=f"Nội dung bản tin số {i} về thời tiết ngày mai.")
         for i in range(300)]
    site.set_feed("/big.xml", items)
    feed = poller.subscribe(f"{site.url}/big.xml", "1s")
    result = poller.poll(feed.id)
    # The cap (5 here): the first five distinct GUIDs; the repeated one counts once.
    assert result.entries == 5 and result.status == "ok", result.message()
    assert (result.added, result.skipped) == (4, 1)
    assert not site.hits("/a/metro.html")  # the second "dup" was never taken
    rows = {r.title: r for r in Library(settings).list_articles()}
    coffee = rows["Giá cà phê Tây Nguyên lên 120.000 đồng mỗi kg"]
    assert coffee.date is None and coffee.url.endswith("/a/ca-phe.html")
    cut = next(r for t, r in rows.items() if t.startswith("Bản tin rất dài"))
    assert len(cut.title) <= 1000 and cut.url == ""
    assert "Bản tin số 1" in rows and "Bản tin số 2" not in rows and "Chỉ có tiêu đề" not in rows
    guids = [e.guid for e in poller.store.entries(feed.id)]
    assert len(guids) == 5 and max(len(g) for g in guids) <= 500
    assert "1.000 ha" in qa.search("Quảng Trị trồng bao nhiêu rừng ngập mặn?", k=1)[0].text


def test_feed_that_moves_permanently_follows_it(env, site):
    settings, qa, poller = env
    site.set_feed("/new.xml", [item("/a/gao.html")])
    site.fault("/old.xml", Fault(status=301, headers={"Location": f"{site.url}/new.xml"}))
    site.fault("/tmp.xml", Fault(status=302, headers={"Location": f"{site.url}/new.xml"}))
    moved = poller.subscribe(f"{site.url}/old.xml", "1s")
    temporary = poller.subscribe(f"{site.url}/tmp.xml", "1s")
    result = poller.poll(moved.id)
    assert result.added == 1 and result.moved_to == f"{site.url}/new.xml" and "moved permanently" in result.message()
    assert poller.store.get(moved.id).url == f"{site.url}/new.xml"
    assert poller.poll(moved.id).status == "not_modified" and len(site.hits("/old.xml")) == 1
    temp = poller.poll(temporary.id)
    assert (temp.status, temp.added, temp.moved_to) == ("ok", 0, "")  # the same article: a duplicate, not added
    assert poller.store.get(temporary.id).url == f"{site.url}/tmp.xml" and len(added_files(settings)) == 1


@pytest.mark.parametrize("logger,needle,nth", [("assistant.library", "added article", 2),
                                               ("index.builder", "stage: embedding", 1)],
                         ids=["while-saving", "while-indexing"])
def test_kill_9_during_a_poll_then_the_next_poll_resumes(env, site, logger, needle, nth):
    settings, qa, poller = env
    paths = ["/a/cau.html", "/a/gao.html", "/a/soi.html"]
    site.set_feed("/rss.xml", [item(p) for p in paths])
    poller.subscribe(f"{site.url}/rss.xml", "1s")
    version = current_version(settings.index_dir).name
    env_vars = child_env(settings, NEWSQA_FETCH_ALLOW_PRIVATE="127.0.0.1", NEWSQA_FEED_MIN_INTERVAL="1")
    done = subprocess.run([sys.executable, "-m", "tests.feed_crash_child", logger, needle, str(nth)], env=env_vars,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == -9, done.stderr[-2000:]
    assert current_version(settings.index_dir).name == version and check_index(settings.index_dir).ok
    assert not list((settings.corpus_dir / ADDED_DIR).glob(".*"))  # no half-written article
    killed_with = len(added_files(settings))
    assert killed_with == (2 if logger == "assistant.library" else 3)
    assert poller.store.pending()  # the killed poll owed an index update

    resumed = poller.poll_all()[0]
    assert resumed.status == "ok" and resumed.added == 3 - killed_with, resumed.message()
    assert "Index updated" in resumed.update_text("en") and not poller.store.pending()
    files = added_files(settings)
    assert len(files) == 3 and check_index(settings.index_dir).ok
    ids = indexed_ids(settings)
    assert len(ids) == len(set(ids)) == 4 and all(f.stem in ids for f in files)
    for path in paths:
        assert_answers(qa, path, ask=path == paths[0])
    again = poller.poll_all()[0]
    assert again.status == "not_modified" and again.update is None


def test_two_pollers_on_one_index_wait_for_the_build_lock_and_add_each_item_once(env, site, embedder):
    settings, qa, poller = env
    site.set_feed("/one.xml", [item("/a/cau.html"), item("/a/gao.html")])
    site.set_feed("/two.xml", [item("/a/soi.html"), item("/a/gao.html", guid="gao-again")])
    poller.subscribe(f"{site.url}/one.xml", "1s")
    poller.subscribe(f"{site.url}/two.xml", "1s")
    # A second poller as another process would have it: its own Library, NewsQA and locks.
    other = FeedPoller(settings, qa=NewsQA(settings, embedder=embedder))
    results: dict[str, list] = {}

    def run(name, p):
        results[name] = p.poll_all()

    threads = [threading.Thread(target=run, args=(n, p)) for n, p in (("a", poller), ("b", other))]
    with locked(settings.index_dir):  # a build in progress elsewhere: both polls must wait for it
        for t in threads:
            t.start()
        time.sleep(1.5)
        assert all(t.is_alive() for t in threads)
    for t in threads:
        t.join(120)
    everything = results["a"] + results["b"]
    assert not [r for r in everything if r.status == "error"], [r.message() for r in everything]
    assert {r.status for r in everything} <= {"ok", "busy", "not_modified"}
    files = added_files(settings)
    ids = indexed_ids(settings)
    assert len(files) == 3 and len(ids) == len(set(ids)) == 4 and check_index(settings.index_dir).ok
    assert not poller.store.pending()
    for path in ("/a/cau.html", "/a/gao.html", "/a/soi.html"):
        assert_answers(qa, path)


def test_scheduler_polls_on_its_own_and_stops_cleanly(env, site):
    settings, qa, poller = env
    site.set_feed("/rss.xml", [item("/a/cau.html")])
    feed = poller.subscribe(f"{site.url}/rss.xml", "1s")
    before = set(threading.enumerate())
    with FeedScheduler(poller, sync_every=1) as scheduler:
        job = scheduler.scheduler.get_job(f"feed-{feed.id}")
        assert job.max_instances == 1 and job.coalesce
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "1,5 km" not in str(qa.search(QUESTIONS["/a/cau.html"][0], k=1)):
            time.sleep(0.5)
        assert_answers(qa, "/a/cau.html")
        # A subscription added meanwhile (as by `newsqa feeds add` in another process) is picked up.
        site.set_feed("/two.xml", [item("/a/metro.html")])
        FeedPoller(settings).subscribe(f"{site.url}/two.xml", "1s")
        while time.monotonic() < deadline and "10 triệu" not in str(qa.search(QUESTIONS["/a/metro.html"][0], k=1)):
            time.sleep(0.5)
        assert_answers(qa, "/a/metro.html")
        while time.monotonic() < deadline and len(site.hits("/rss.xml")) < 2:
            time.sleep(0.5)
        assert len(site.hits("/rss.xml")) >= 2  # polled again on schedule (304s)
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive() and "process_request" not in t.name]
    assert not leftover, leftover
    assert start_feed_polling(Admin(NewsQA(settings.with_(feed_polling="off")))) is None


def test_scheduler_stops_while_a_poll_is_in_flight(env, site):
    """A poll that ends after shutdown began touches the scheduler (its next run): shutdown must still
    return and leave no thread behind (APScheduler's own wait held a lock that poll needed)."""
    settings, qa, poller = env
    site.fault("/slow.xml", Fault(status=503, delay=0.7))
    poller.subscribe(f"{site.url}/slow.xml", "1s")
    before = set(threading.enumerate())
    scheduler = FeedScheduler(poller, sync_every=1).start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not site.hits("/slow.xml"):
        time.sleep(0.05)
    assert site.hits("/slow.xml"), "the feed was never polled"
    stopper = threading.Thread(target=scheduler.shutdown, daemon=True)
    stopper.start()
    stopper.join(timeout=20)
    assert not stopper.is_alive(), "shutdown deadlocked with a poll in flight"
    assert not scheduler.running
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive() and "process_request" not in t.name]
    assert not leftover, leftover


def test_cli_subscribes_lists_polls_and_removes(env, site):
    settings, qa, poller = env
    site.fault("/gone.xml", Fault(status=404))
    url = f"{site.url}/gone.xml"
    out = run_cli(settings, "feeds", "add", url, "--every", "30m", "--source", "Báo Thử", "--json")
    added = json.loads(out.stdout)
    assert added["every"] == 1800 and added["source"] == "Báo Thử" and added["last_status"] == ""
    bad = run_cli(settings, "feeds", "add", f"{site.url}/x.xml", "--every", "soon", check=False)
    assert bad.returncode == 2 and "not valid" in bad.stderr and "Traceback" not in bad.stderr
    polled = subprocess.run([sys.executable, "-m", "assistant.cli", "feeds", "poll"], capture_output=True, text=True,
                            env=child_env(settings, NEWSQA_FETCH_ALLOW_PRIVATE="127.0.0.1"), timeout=120)
    assert polled.returncode == 2 and "server answered 404" in polled.stderr
    # One JSON log line per poll, as `feeds watch` writes it.
    records = [json.loads(line) for line in polled.stderr.splitlines() if line.startswith("{")]
    polls = [r for r in records if r.get("event") == "feed_poll"]
    assert len(polls) == 1 and polls[0]["feed"] == added["id"] and polls[0]["status"] == "error", polled.stderr
    assert "404" in polls[0]["error"] and polls[0]["error_key"]
    listed = json.loads(run_cli(settings, "feeds", "list", "--json").stdout)
    assert [f["id"] for f in listed] == [added["id"]] and "404" in listed[0]["error"]
    assert listed[0]["last_poll"] and listed[0]["next_poll"] and listed[0]["failures"] == 1
    assert "last error" in run_cli(settings, "feeds", "list").stdout
    run_cli(settings, "feeds", "remove", str(added["id"]))
    assert not poller.feeds()


def test_api_feeds_need_the_admin_password(env, site):
    settings, qa, poller = env
    site.set_feed("/rss.xml", [item("/a/soi.html")])
    client = TestClient(create_api(qa, Admin(qa)))
    body = {"url": f"{site.url}/rss.xml", "every": "1s", "source": "Báo Thử"}
    assert client.post("/api/feeds", json=body).status_code == 403
    assert client.post("/api/feeds", json=body, headers={"X-Admin-Password": "nope"}).status_code == 403
    assert client.get("/api/feeds").json()["total"] == 0
    made = client.post("/api/feeds", json=body, headers={"X-Admin-Password": PASSWORD})
    assert made.status_code == 200, made.text
    feed_id = made.json()["feed"]["id"]
    twice = client.post("/api/feeds", json=body, headers={"X-Admin-Password": PASSWORD})
    assert twice.status_code == 400 and "subscribed already" in twice.json()["error"]
    assert client.post(f"/api/feeds/{feed_id}/poll", json={}).status_code == 403
    polled = client.post(f"/api/feeds/{feed_id}/poll", json={}, headers={"X-Admin-Password": PASSWORD}).json()
    assert polled["polls"][0]["added"] == 1 and "Index updated" in polled["polls"][0]["index_update"]
    assert client.post("/api/feeds/999/poll", json={}, headers={"X-Admin-Password": PASSWORD}).status_code == 404
    listed = client.get("/api/feeds").json()["feeds"][0]
    assert listed["added_total"] == 1 and listed["last_status"] == "ok" and listed["next_poll"]
    assert client.delete(f"/api/feeds/{feed_id}").status_code == 403
    assert client.delete(f"/api/feeds/{feed_id}", headers={"X-Admin-Password": PASSWORD}).status_code == 200
    assert client.get("/api/feeds").json()["total"] == 0
    assert client.delete(f"/api/feeds/{feed_id}", headers={"X-Admin-Password": PASSWORD}).status_code == 400
    assert_answers(qa, "/a/soi.html")  # the articles stay


def test_feed_fields_from_the_web_are_escaped_in_the_ui(env, site):
    settings, qa, poller = env
    evil = '<img src=x onerror="alert(1)"> [click](javascript:alert(2)) | col'
    site.set_feed("/rss.xml", [item("/a/cau.html")], title=evil)
    feed = poller.subscribe(f"{site.url}/rss.xml", "1s")
    poller.subscribe(f"{site.url}/bad.xml?<script>=1", "1s")
    assert poller.poll(feed.id).added == 1
    poller.poll_all()
    assert "click" in poller.store.get(feed.id).title
    for lang in ("vi", "en"):
        page = feeds_markdown(poller.feeds(), lang, polling=True)
        assert "<img" not in page and "<script" not in page and "](javascript" not in page
        assert "\\|" in page and "\\[click\\]" in page
        assert len([line for line in page.splitlines() if line.startswith("| ")]) == 3  # header + 2 rows


def test_intervals():
    assert parse_interval("30m") == 1800 and parse_interval("2h") == 7200 and parse_interval("90") == 90
    with pytest.raises(Exception, match="not valid"):
        parse_interval("-5m")
    assert dt.datetime.now(dt.UTC) < parse_iso("2999-01-01T00:00:00+00:00")


def test_hostile_markup_is_read_in_linear_time():
    """Titles and text-typed summaries reach html_to_text raw: patterns that make html.parser
    quadratic ("<a <a <a ...", unclosed "&#", "</") must not hold a poll for hours."""
    from assistant.feeds import html_to_text

    for hostile in ("<a " * 100_000, "</" * 150_000, "&#" * 150_000, "<!--" * 75_000, "<a b='" * 50_000,
                    "<script>" * 40_000, "<" * 300_000):
        started = time.perf_counter()
        html_to_text(hostile)
        assert time.perf_counter() - started < 2, hostile[:10]
    text = html_to_text('<p>Một &amp; hai</p><script>alert("<p>x</p>")</script><style>p{}</style>'
                        "<!-- <p>ẩn</p> --><br>Ba<b>n</b> &lt;4&gt;<div title='a > b'>năm</div>")
    assert text == "Một & hai\n\nBan <4>\n\nnăm", text


def test_items_sharing_a_link_do_not_overwrite_each_other(env, site):
    """Feeds whose items all link to one page (a section, a live blog): the link fallback (a feed
    that changed its GUIDs) must not take a second item for the first and rewrite its article."""
    settings, qa, poller = env
    one = " ".join(ARTICLES["/a/soi.html"][1]) * 4
    two = " ".join(ARTICLES["/a/metro.html"][1]) * 4
    site.set_feed("/rss.xml", [Item(guid="live-1", title=ARTICLES["/a/soi.html"][0], link="/live.html", content=one),
                               Item(guid="live-2", title=ARTICLES["/a/metro.html"][0], link="/live.html", content=two)])
    feed = poller.subscribe(f"{site.url}/rss.xml", "1s")
    result = poller.poll(feed.id)
    assert (result.added, result.updated) == (2, 0), result.message()
    assert len(added_files(settings)) == 2
    assert assert_answers(qa, "/a/soi.html") != assert_answers(qa, "/a/metro.html")


def test_feed_removed_while_it_is_polled(env, site):
    settings, qa, poller = env
    site.set_feed("/rss.xml", [item("/a/cau.html"), item("/a/gao.html")])
    site.fault("/a/gao.html", Fault(delay=0.8, body=b"<html><body><p>x</p></body></html>", content_type="text/html"))
    feed = poller.subscribe(f"{site.url}/rss.xml", "1s")
    remover = threading.Timer(0.4, lambda: FeedPoller(settings).unsubscribe(feed.id))
    remover.start()
    result = poller.poll(feed.id)  # no sqlite3.IntegrityError (FOREIGN KEY constraint failed)
    remover.join()
    assert poller.store.get(feed.id) is None and not poller.feeds()
    assert result.status in ("ok", "missing"), result.message()
    assert not poller.store.pending()  # what it saved before the removal is indexed all the same
    assert_answers(qa, "/a/cau.html")


def test_changed_item_whose_page_failed_once_still_replaces_its_article(env, site):
    settings, qa, poller = env
    site.set_feed("/rss.xml", [item("/a/metro.html", guid="metro")])
    feed = poller.subscribe(f"{site.url}/rss.xml", "1s")
    assert poller.poll(feed.id).added == 1
    article_id = assert_answers(qa, "/a/metro.html")
    site.set_page("/a/metro.html", ARTICLES["/a/metro.html"][0],
                  "Tuyến metro số 1 Bến Thành - Suối Tiên đã phục vụ 12 triệu lượt hành khách sau sáu tháng vận hành.",
                  ARTICLES["/a/metro.html"][1][1])
    site.set_feed("/rss.xml", [item("/a/metro.html", guid="metro", description="Đính chính: 12 triệu lượt")])
    site.fault("/a/metro.html", Fault(status=503))
    failed = poller.poll(feed.id)
    assert failed.failed == 1 and failed.updated == 0, failed.message()
    site.fault("/a/metro.html", None)
    second = poller.poll(feed.id)
    assert (second.added, second.updated) == (0, 1), second.message()
    assert [p.stem for p in added_files(settings)] == [article_id]  # rewritten, not a second article
    hits = qa.search("Metro số 1 phục vụ bao nhiêu lượt khách?", k=3)
    assert "12 triệu lượt" in hits[0].text and not [h for h in hits if "10 triệu lượt hành khách" in h.text]
    third = poller.poll_many([feed.id])[0]  # settled: seen, not retried on every poll
    assert third.status == "not_modified" or (third.seen == 1 and not third.failed), third.message()
    assert {e.status for e in poller.store.entries(feed.id)} == {"updated"}


def test_changed_item_much_shorter_keeps_its_article(env, site):
    """A known item whose new text is less than half its article's (a paywall stub, a summary
    standing in for the page) leaves the article as it was, and the poll says so."""
    settings, qa, poller = env
    title = ARTICLES["/a/metro.html"][0]
    full = " ".join(ARTICLES["/a/metro.html"][1]) * 4  # full text in the feed: the page is not fetched
    site.set_feed("/rss.xml", [Item(guid="metro", title=title, link="/a/paywall.html", content=full,
                                    date="2024-04-20")])
    feed = poller.subscribe(f"{site.url}/rss.xml", "1s")
    assert poller.poll(feed.id).added == 1
    article_id = assert_answers(qa, "/a/metro.html")
    saved = added_files(settings)[0].read_text(encoding="utf-8")
    version = current_version(settings.index_dir).name
    # The item changes to a summary, and its page is now behind a paywall.
    site.set_page("/a/paywall.html", title, "Nội dung này chỉ dành cho thành viên trả phí của báo. "
                  "Vui lòng đăng nhập hoặc đăng ký gói đọc để xem toàn bộ bài viết về tuyến metro số 1.")
    site.set_feed("/rss.xml", [Item(guid="metro", title=title, link="/a/paywall.html",
                                    description="Metro số 1 tiếp tục đón thêm hành khách.", date="2024-04-21")])
    kept = poller.poll(feed.id)
    assert (kept.status, kept.added, kept.updated, kept.skipped, kept.failed) == ("ok", 0, 0, 1, 0), kept.message()
    assert [n.key for n in kept.notes] == ["feed_item_shorter"] and kept.update is None
    assert "less than half" in kept.message("en") and "chưa bằng một nửa" in kept.message("vi")
    assert [p.stem for p in added_files(settings)] == [article_id]
    assert added_files(settings)[0].read_text(encoding="utf-8") == saved
    assert current_version(settings.index_dir).name == version and assert_answers(qa, "/a/metro.html") == article_id
    assert {e.status for e in poller.store.entries(feed.id)} == {"added"}
    # Said once: the next poll sees the same item and has nothing to say.
    again = poller.poll(feed.id)
    assert not again.notes and again.updated == 0 and again.status in ("ok", "not_modified"), again.message()


def test_store_opens_a_file_of_the_older_schema(tmp_path):
    """A feeds.sqlite written before error keys (the last error as error_en/error_vi texts): opened,
    its new columns added, its old texts shown until the next poll replaces them."""
    import sqlite3

    from assistant.errors import Msg
    from assistant.feedstore import FILENAME, SCHEMA, FeedStore

    old_schema = SCHEMA.replace("error_key TEXT NOT NULL DEFAULT '',", "error_en TEXT NOT NULL DEFAULT '',").replace(
        "error_params TEXT NOT NULL DEFAULT '{}',", "error_vi TEXT NOT NULL DEFAULT '',")
    assert "error_en" in old_schema and "error_params" not in old_schema
    db = sqlite3.connect(tmp_path / FILENAME)
    db.executescript(old_schema)
    db.execute("INSERT INTO feeds (url, every, created, last_status, error_en, error_vi, failures) VALUES "
               "('https://a.example/rss', 60, '2024-01-01T00:00:00+00:00', 'error', 'Old English error', "
               "'Lỗi cũ tiếng Việt', 2)")
    db.execute("INSERT INTO feeds (url, every, created) VALUES ('https://b.example/rss', 60, '2024-01-01T00:00:00+00:00')")
    db.commit()
    db.close()

    store = FeedStore(tmp_path)
    first, second = store.list()
    assert (first.error("en"), first.error("vi"), first.error("fr")) == ("Old English error", "Lỗi cũ tiếng Việt",
                                                                          "Old English error")
    assert first.failures == 2 and not first.error_key and second.error("vi") == ""
    assert "legacy_error" not in first.as_dict() and "error_params" not in first.as_dict()
    columns = {row[1] for row in sqlite3.connect(tmp_path / FILENAME).execute("PRAGMA table_info(feeds)")}
    assert {"error_key", "error_params", "error_en", "error_vi"} <= columns

    failed = store.record_poll(first.id, status="error", error=Msg("feed_malformed", reason=Msg("feed_not_rss_or_atom")))
    assert failed.error_key == "feed_malformed" and failed.legacy_error == ("", "")
    assert "neither RSS nor Atom" in failed.error("en") and "không phải RSS hay Atom" in failed.error("vi")
    assert FeedStore(tmp_path).get(first.id).error("vi") == failed.error("vi")  # another process reads the same
    fixed = store.record_poll(first.id, status="ok")
    assert fixed.error("en") == fixed.error("vi") == "" and fixed.failures == 0
    added = store.add("https://c.example/rss", 60)
    assert added is not None and added.error("en") == ""


def test_admin_feed_actions_are_audited_also_when_refused_or_failed(env, site, caplog):
    settings, qa, poller = env
    from assistant.errors import AccessError

    admin = Admin(qa)
    url = f"{site.url}/rss.xml"
    with caplog.at_level(logging.INFO, logger="assistant.admin"):
        with pytest.raises(AccessError):
            admin.feed_add("wrong", url, "1s")
        with pytest.raises(InputError):
            admin.feed_add(PASSWORD, "ftp://example.com/rss", "1s")
        with pytest.raises(InputError):
            admin.feed_remove(PASSWORD, 999)
        admin.feed_add(PASSWORD, url, "1s")
    lines = [r.fields for r in caplog.records if getattr(r, "fields", {}).get("event") == "admin"]
    assert [(f["action"], f["outcome"]) for f in lines] == [
        ("feed_add", "refused: wrong password"), ("feed_add", "failed"), ("feed_remove", "failed"),
        ("feed_add", "done")]
    assert lines[1]["error"] == "feed_bad_url" and lines[1]["url"] == "ftp://example.com/rss"
    assert lines[2]["error"] == "feed_unknown" and lines[2]["feed"] == 999 and "999" in lines[2]["reason"]
    assert PASSWORD not in str(lines)


def test_admin_makes_one_poller_however_many_threads_ask(env, monkeypatch):
    settings, qa, poller = env
    import assistant.feeds

    made = []
    real = assistant.feeds.FeedPoller

    def slow(*args, **kwargs):
        time.sleep(0.2)  # wide enough for every thread to find none made yet
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(assistant.feeds, "FeedPoller", slow)
    admin = Admin(qa)
    start = threading.Barrier(8)
    got = []

    def ask():
        start.wait()
        got.append(admin.feeds)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(made) == 1 and len(got) == 8 and all(p is made[0] for p in got)
    assert admin.feeds is made[0] and made[0].library is admin.library


@pytest.mark.parametrize("raw", ["²", "٣", "3a", "-1", "1" * 19])
def test_a_feed_number_that_is_no_number_is_refused_with_a_message(raw):
    # "²" passes str.isdigit() yet int() refuses it (an uncaught ValueError in the Feeds tab); int() reads "٣" as
    # 3, but a feed number is typed in ASCII digits.
    with pytest.raises(InputError) as err:
        feed_id(raw)
    assert err.value.key == "feed_unknown" and err.value.message("vi")


def test_a_feed_number_is_read_with_or_without_its_hash():
    assert feed_id(" #12 ") == 12 and feed_id("", empty_ok=True) is None


def test_a_plain_feed_title_keeps_its_angle_brackets_and_html_ones_lose_their_tags():
    import feedparser

    from assistant.feeds import Item

    rss = """<?xml version="1.0"?><rss version="2.0"><channel><title>c</title>
    <item><title>Lãi suất x&lt;y với mọi khoản vay</title><link>http://a.vn/1</link></item>
    <item><title>Phim &lt;Mai&gt; đạt 500 tỷ</title><link>http://a.vn/2</link></item>
    <item><title>Phim &lt;b&gt;Mai&lt;/b&gt; hay &lt;script&gt;x()&lt;/script&gt;</title><link>http://a.vn/3</link>
      <description>&lt;p&gt;Đoạn &lt;b&gt;một&lt;/b&gt;&lt;/p&gt;</description></item>
    </channel></rss>""".encode()
    items = [Item.of(e) for e in feedparser.parse(rss).entries]
    # The first two lost everything after "<" (read as the start of a tag).
    assert [i.title for i in items] == ["Lãi suất x<y với mọi khoản vay", "Phim <Mai> đạt 500 tỷ", "Phim Mai hay"]
    assert items[2].text == "Đoạn một"
