"""Incremental updates, the embedding cache, crash safety (kill -9 at several points of a build),
the build lock, and a running service switching to a new version without restart."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading

import pytest

from assistant.errors import IndexMismatchError, IndexStateError
from assistant.service import NewsQA
from index.builder import build_lock
from index.layout import current_version
from index.reader import check_index
from index.updater import update_index
from tests.conftest import CORPUS, GUIDING_VI, SEED_ID, TASK_FRAGMENTS
from tests.helpers import child_env, run_cli

NEW_ARTICLE = (
    "---\ntitle: Hợp tác xã Hoa Sen khánh thành nhà máy sấy vải thiều\ndate: 2024-06-20\nsource: Báo Thử\n---\n\n"
    "Hợp tác xã Hoa Sen ở huyện Lục Ngạn vừa khánh thành nhà máy sấy vải thiều công suất 40 tấn mỗi ngày. "
    "Giám đốc hợp tác xã, bà Trần Thị Mận, cho biết nhà máy giúp nông dân không phải bán vải tươi giá rẻ.\n"
)


@pytest.fixture
def corpus_copy(tmp_path):
    folder = tmp_path / "corpus"
    shutil.copytree(CORPUS, folder)
    return folder


@pytest.fixture
def live(tmp_path, corpus_copy, base_settings, embedder):
    settings = base_settings.with_(index_dir=tmp_path / "idx", corpus_dir=corpus_copy, batch_size=2)
    first = update_index(settings.index_config(), embedder)
    assert first.full and first.build.embedded == first.build.chunks
    return settings


def test_update_embeds_only_what_changed(live, embedder, corpus_copy):
    again = update_index(live.index_config(), embedder)
    assert again.up_to_date and again.unchanged >= 25 and "up to date" in again.summary()
    (corpus_copy / "new.md").write_text(NEW_ARTICLE, encoding="utf-8")
    removed = sorted(corpus_copy.glob("baomoi/*.md"))[0]
    removed.unlink()
    edited = sorted(corpus_copy.glob("baomoi/*.md"))[0]
    edited.write_text(edited.read_text(encoding="utf-8") + "\nĐoạn bổ sung mới của biên tập viên.\n", encoding="utf-8")
    report = update_index(live.index_config(), embedder)
    assert report.added == ["new"] and len(report.removed) == 1 and len(report.changed) == 1
    # Only the new article and the edited one's changed passages go to the model.
    assert 1 <= report.build.embedded <= 6 and report.build.reused >= report.build.chunks - 6
    integrity = check_index(live.index_dir)
    assert integrity.ok and integrity.manifest_articles == report.unchanged + 2
    qa = NewsQA(live, embedder=embedder)
    ans = qa.ask("Nhà máy sấy vải thiều của hợp tác xã Hoa Sen công suất bao nhiêu?")
    assert ans.found and ans.citations[0].article_id == "new" and "40 tấn" in ans.answer
    assert removed.stem not in qa.index().db.content_hashes()


def test_changed_chunker_is_refused_unless_full(live, embedder):
    other = live.with_(chunk_size=500)
    with pytest.raises(IndexMismatchError) as err:
        update_index(other.index_config(), embedder)
    assert "700/100 -> 500/100" in str(err.value) and "--full" in str(err.value)
    report = update_index(other.index_config(), embedder, full=True)
    assert report.full and report.build.chunks > 0 and check_index(live.index_dir).ok


def test_second_build_is_refused_while_one_runs(live):
    lock = build_lock(live.index_dir)
    with lock:
        done = run_cli(live, "index", "update", "--index", str(live.index_dir), check=False)
    assert done.returncode == 2 and "Another build or update" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("stage,nth", [("embedded", 2), ("stage: writing", 1), ("stage: publishing", 1)])
def test_kill_9_during_a_build_leaves_the_previous_index_intact(live, embedder, corpus_copy, stage, nth):
    before = current_version(live.index_dir).name
    (corpus_copy / "new.md").write_text(NEW_ARTICLE, encoding="utf-8")
    # A full rebuild with a different chunker has real work to do at every stage.
    env = child_env(live.with_(chunk_size=400), NEWSQA_BATCH_SIZE="2", NEWSQA_CHUNK_SIZE="400")
    done = subprocess.run([sys.executable, "-m", "tests.crash_child", stage, str(nth)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr[-2000:]
    assert current_version(live.index_dir).name == before
    assert check_index(live.index_dir).ok
    ans = NewsQA(live, embedder=embedder).ask(GUIDING_VI)
    assert ans.found and SEED_ID in {c.article_id for c in ans.citations}
    assert all(f in ans.answer for f in TASK_FRAGMENTS)
    # The next run finishes the job, reusing what the killed one had embedded.
    resumed = update_index(live.with_(chunk_size=400).index_config(), embedder, full=True)
    assert resumed.build.reused > 0 and check_index(live.index_dir).ok
    assert not any(p.name.endswith(".tmp") for p in (live.index_dir / "versions").iterdir())


def test_running_service_keeps_answering_and_switches_to_the_new_version(live, embedder, corpus_copy):
    qa = NewsQA(live, embedder=embedder)
    question = "Nhà máy sấy vải thiều của hợp tác xã Hoa Sen công suất bao nhiêu?"
    assert not qa.ask(question).found
    errors: list[Exception] = []
    stop = threading.Event()

    def keep_asking():
        while not stop.is_set():
            try:
                assert qa.ask(GUIDING_VI).found
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        (corpus_copy / "new.md").write_text(NEW_ARTICLE, encoding="utf-8")
        done = run_cli(live, "index", "update", "-q", "--index", str(live.index_dir), "--corpus", str(corpus_copy))
    finally:
        stop.set()
        asker.join()
    assert "1 added" in done.stdout and not errors
    ans = qa.ask(question)
    assert ans.found and ans.citations[0].article_id == "new"


def test_corrupted_file_is_named_by_check(live):
    folder = current_version(live.index_dir)
    target = folder / "metadata.sqlite"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(IndexStateError) as err:
        check_index(live.index_dir)
    assert str(target) in str(err.value) and "checksum" in str(err.value)
    done = run_cli(live, "index", "check", "--index", str(live.index_dir), check=False)
    assert done.returncode == 2 and "metadata.sqlite" in done.stderr
    # Loading refuses it too, naming the file and the fix, instead of answering from a damaged index.
    with pytest.raises(IndexStateError) as err:
        NewsQA(live).ask(GUIDING_VI)
    assert str(target) in str(err.value) and "newsqa index build" in str(err.value)
