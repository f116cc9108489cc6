"""The Milvus backend as production runs it: a Milvus server reached over the network (here the
milvus-lite server in a child process), the real model, the CLI. Builds publish by switching an
alias, and a build killed with SIGKILL at any point leaves the alias on the previous version and
the app answering."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from assistant.service import NewsQA
from index import milvus
from index.layout import current_version
from index.reader import check_index
from tests.conftest import CORPUS, GUIDING_EN, GUIDING_VI, SEED_ID, TASK_FRAGMENTS
from tests.helpers import child_env, free_port, run_cli


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`milvus-lite server` on a free loopback port; yields its URI."""
    port = free_port()
    data = tmp_path_factory.mktemp("milvus-server")
    log = open(data / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data / "data"),
                             "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    uri = f"http://127.0.0.1:{port}"
    try:
        from pymilvus import MilvusClient

        deadline = time.monotonic() + 60
        while True:
            try:
                MilvusClient(uri, timeout=2).list_collections(timeout=2)
                break
            except Exception:  # noqa: BLE001 - not listening yet
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"milvus-lite server did not start: {(data / 'server.log').read_text()[-2000:]}")
                time.sleep(0.3)
        yield uri
    finally:
        proc.kill()
        proc.wait()
        log.close()


@pytest.fixture
def remote(tmp_path, qa, server):
    """Settings of an index of a copy of the bundled corpus built into the server by the CLI (`newsqa
    index build`), sharing the test session's embedding cache so that only the writing runs again."""
    index_dir = tmp_path / "idx"
    index_dir.mkdir()
    (index_dir / "cache").symlink_to(qa.settings.index_dir / "cache", target_is_directory=True)
    shutil.copytree(CORPUS, tmp_path / "corpus")
    settings = qa.settings.with_(index_dir=index_dir, corpus_dir=tmp_path / "corpus", backend="milvus", milvus_uri=server,
                                 milvus_prefix=f"t{os.getpid()}_{tmp_path.name[-12:].replace('-', '_')}")
    done = run_cli(settings, "index", "build", "-q", env=_env(settings))
    assert done.returncode == 0, done.stderr[-2000:]
    return settings


def _env(settings, **extra: str) -> dict[str, str]:
    return child_env(settings, NEWSQA_BACKEND="milvus", NEWSQA_MILVUS_URI=settings.milvus_uri,
                     NEWSQA_MILVUS_PREFIX=settings.milvus_prefix, **extra)


def test_build_check_and_ask_through_the_cli_against_a_server(remote):
    check = run_cli(remote, "index", "check", "--json", env=_env(remote))
    assert '"ok": true' in check.stdout
    answer = run_cli(remote, "ask", "--json", GUIDING_EN, env=_env(remote))
    assert SEED_ID in answer.stdout and "Traceback" not in answer.stderr


def test_the_service_answers_from_the_server(remote, embedder):
    qa = NewsQA(remote, embedder=embedder)
    assert qa.index().search.kind == "milvus"
    ans = qa.ask(GUIDING_VI)
    assert ans.found and SEED_ID in {c.article_id for c in ans.citations}
    assert all(f in ans.answer for f in TASK_FRAGMENTS)


@pytest.mark.slow
@pytest.mark.parametrize("stage,nth", [("inserted", 1), ("stage: alias", 1)])
def test_kill_9_during_a_milvus_build_leaves_the_alias_on_the_previous_version(remote, embedder, stage, nth):
    client = milvus.connect(remote.milvus_config(), remote.index_dir)
    before_alias = milvus.alias_target(client, remote.milvus_prefix)
    before_version = current_version(remote.index_dir).name
    done = subprocess.run([sys.executable, "-m", "tests.crash_child", stage, str(nth)],
                          env=_env(remote, NEWSQA_CHUNK_SIZE="500"), capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr[-2000:]
    assert milvus.alias_target(client, remote.milvus_prefix) == before_alias
    if stage != "stage: alias":  # killed before CURRENT moved; after it, CURRENT names the complete new version
        assert current_version(remote.index_dir).name == before_version
    assert check_index(remote.index_dir, remote.milvus_config()).ok
    ans = NewsQA(remote, embedder=embedder).ask(GUIDING_VI)
    assert ans.found and SEED_ID in {c.article_id for c in ans.citations}
    # The next build publishes, and only the live collection and the one it replaced remain.
    run_cli(remote, "index", "update", "--full", "-q", env=_env(remote, NEWSQA_CHUNK_SIZE="500"))
    live = NewsQA(remote.with_(chunk_size=500), embedder=embedder).index().manifest.collection
    assert milvus.alias_target(client, remote.milvus_prefix) == live
    ours = [n for n in client.list_collections() if n.startswith(remote.milvus_prefix + "_")]
    assert live in ours and len(ours) == 2


NEW_ARTICLE = (
    "---\ntitle: Hợp tác xã Hoa Sen khánh thành nhà máy sấy vải thiều\ndate: 2024-06-20\nsource: Báo Thử\n---\n\n"
    "Hợp tác xã Hoa Sen ở huyện Lục Ngạn vừa khánh thành nhà máy sấy vải thiều công suất 40 tấn mỗi ngày. "
    "Giám đốc hợp tác xã, bà Trần Thị Mận, cho biết nhà máy giúp nông dân không phải bán vải tươi giá rẻ.\n"
)
NEW_QUESTION = "Nhà máy sấy vải thiều của hợp tác xã Hoa Sen công suất bao nhiêu?"


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["inserted"])
def test_kill_9_during_an_update_of_the_live_collection_leaves_it_answering(remote, embedder, stage):
    """`index update` patches the live collection in place (new rows under the next version number):
    killed at any point, the live version sees exactly its own rows; the next update finishes."""
    before = current_version(remote.index_dir).name
    collection = NewsQA(remote, embedder=embedder).index().manifest.collection
    (remote.corpus_dir / "new.md").write_text(NEW_ARTICLE, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "tests.crash_child", stage, "1", "partial"],
                          env=_env(remote, NEWSQA_CORPUS_DIR=str(remote.corpus_dir)),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr[-2000:]
    assert current_version(remote.index_dir).name == before
    assert check_index(remote.index_dir, remote.milvus_config()).ok
    qa = NewsQA(remote, embedder=embedder)
    assert not qa.ask(NEW_QUESTION).found and qa.ask(GUIDING_VI).found
    run_cli(remote, "index", "update", "-q", env=_env(remote, NEWSQA_CORPUS_DIR=str(remote.corpus_dir)))
    live = NewsQA(remote, embedder=embedder)
    assert live.index().manifest.collection == collection and live.index().manifest.milvus_seq == 2
    assert check_index(remote.index_dir, remote.milvus_config()).ok
    ans = live.ask(NEW_QUESTION)
    assert ans.found and ans.citations[0].article_id == "new" and "40 tấn" in ans.answer
    client = milvus.connect(remote.milvus_config(), remote.index_dir)
    assert milvus.collection_rows(client, collection) == live.index().manifest.chunks  # the killed rows are gone


def test_the_app_serves_the_milvus_index_over_http(remote, tmp_path):
    """`newsqa serve` with the Milvus settings: the JSON API answers and the filters reach the server."""
    import json
    import urllib.parse
    import urllib.request

    from tests.helpers import RunningApp

    app = RunningApp(remote, tmp_path / "serve.log", command=[sys.executable, "-m", "assistant.cli", "serve"],
                     env=_env(remote))
    try:
        app.wait_ready(path="api/health")

        def post(path: str, body: dict) -> dict:
            request = urllib.request.Request(app.url + path, data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=120) as resp:
                return json.load(resp)

        answer = post("api/ask", {"question": GUIDING_EN})
        assert answer["found"] and SEED_ID in {c["article_id"] for c in answer["citations"]}
        query = urllib.parse.urlencode({"q": "Sư đoàn 346", "date_from": "2022-05-01", "date_to": "2022-05-31"})
        with urllib.request.urlopen(f"{app.url}api/search?{query}", timeout=120) as resp:
            dated = json.load(resp)
        assert dated["hits"] and {h["article_id"] for h in dated["hits"]} == {SEED_ID}
    finally:
        app.stop()
