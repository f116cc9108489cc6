"""The `newsqa` command line in process, through `assistant.cli.main(argv)`, with its settings
from the environment as a user sets them. The model is the fake one: `load_embedder` is replaced
(tests/fast/conftest.py), and NEWSQA_MODEL names the fake so that the index manifest records it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from assistant.cli import main
from tests.fast.conftest import CHUNK_OVERLAP, CHUNK_SIZE
from tests.fast.fakes import ARTICLES, FAKE_MODEL, HOA_SEN, LU_LUT, METRO, SU_DOAN, article_file, write_corpus


def use(monkeypatch, corpus: Path, index: Path, **extra: str) -> None:
    for name in [n for n in os.environ if n.startswith("NEWSQA_")]:
        monkeypatch.delenv(name)  # the developer's own settings must not leak in
    env = {"NEWSQA_MODEL": FAKE_MODEL, "NEWSQA_CORPUS_DIR": str(corpus), "NEWSQA_INDEX_DIR": str(index),
           "NEWSQA_MODEL_CACHE_DIR": str(index.parent / "models"), "NEWSQA_CHUNK_SIZE": str(CHUNK_SIZE),
           "NEWSQA_CHUNK_OVERLAP": str(CHUNK_OVERLAP), "NEWSQA_ANSWER_GATE": "rule", **extra}
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def shared_env(monkeypatch, shared_qa):
    """The CLI pointed at the shared index (read-only commands)."""
    use(monkeypatch, shared_qa.settings.corpus_dir, shared_qa.settings.index_dir)


@pytest.fixture
def own_env(monkeypatch, tmp_path):
    """The CLI pointed at a private corpus with no index yet."""
    write_corpus(tmp_path / "corpus")
    use(monkeypatch, tmp_path / "corpus", tmp_path / "index")
    return tmp_path


def test_status_build_status_check(own_env, capsys):
    code, out, _ = run(capsys, "index", "status", "--json")
    assert code == 1 and json.loads(out)["ready"] is False
    code, out, err = run(capsys, "index", "build", "-q")
    assert code == 0 and f"Indexed {len(ARTICLES)} articles" in out and "0 file(s) skipped" in out
    code, out, _ = run(capsys, "index", "status", "--json")
    status = json.loads(out)
    assert code == 0 and status["ready"] and status["articles"] == len(ARTICLES) and status["model"] == FAKE_MODEL
    assert status["index_dir"] == str(own_env / "index")
    code, out, _ = run(capsys, "index", "status")
    assert code == 0 and f"articles   {len(ARTICLES)}" in out
    code, out, _ = run(capsys, "index", "check")
    assert code == 0 and out.strip().endswith("OK") and f"{status['chunks']} vectors" in out
    code, out, _ = run(capsys, "index", "update", "-q")
    assert code == 0 and "up to date" in out


def test_ask_json_and_plain(shared_env, capsys):
    code, out, _ = run(capsys, "ask", "Lũ ở miền Trung khiến bao nhiêu hộ dân sơ tán?", "--json")
    answer = json.loads(out)
    assert code == 0 and answer["found"] and answer["citations"][0]["article_id"] == LU_LUT
    assert all({"article_id", "text", "score"} <= set(h) for h in answer["hits"])
    code, out, _ = run(capsys, "ask", "How long is the elevated section of the metro line?")
    meta = ARTICLES[METRO][0]
    assert code == 0 and "8.5 kilometres" in out and f"[1] {meta['title']} ({meta['date']}) {meta['url']}" in out
    code, out, _ = run(capsys, "ask", "Ai được trao giấy khen?", "--source", "Báo Quân Đội", "-k", "2", "--json")
    assert {c["article_id"] for c in json.loads(out)["citations"]} == {SU_DOAN}
    code, out, _ = run(capsys, "ask", "Who won the chess olympiad in Budapest?")
    assert code == 0 and out.strip() == "Sorry, I could not find relevant information in the indexed news articles."


def test_search_json_plain_modes_and_filters(shared_env, capsys):
    code, out, _ = run(capsys, "search", "nhà máy sấy vải thiều Hoa Sen", "-k", "3", "--json")
    hits = json.loads(out)["hits"]
    assert code == 0 and len(hits) == 3 and hits[0]["article_id"] == HOA_SEN
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    code, out, _ = run(capsys, "search", "Quảng Bình", "--mode", "lexical", "-k", "1")
    assert code == 0 and out.startswith("1. [") and ARTICLES[LU_LUT][0]["title"] in out and "2. [" not in out
    code, out, _ = run(capsys, "search", "zyxw qvtk", "--mode", "lexical")
    assert code == 0 and out.strip() == "(no results)"
    code, out, _ = run(capsys, "search", "trao giấy khen", "--from", "01/01/2023", "--to", "31/12/2023", "--json")
    assert {h["date"][:4] for h in json.loads(out)["hits"]} == {"2023"}
    code, _, err = run(capsys, "search", "x", "--to", "tuần trước")
    assert code == 2 and "--from/--to" in err and "Unknown date format" in err and "Traceback" not in err


def test_articles_list(shared_env, capsys):
    code, out, _ = run(capsys, "articles", "list")
    lines = out.strip().splitlines()
    assert code == 0 and lines[-1] == f"{len(ARTICLES)} article(s)" and len(lines) == len(ARTICLES) + 1
    assert lines[0].startswith(max(m["date"] for m, _ in ARTICLES.values() if "date" in m))
    code, out, _ = run(capsys, "articles", "list", "--query", "mua lon", "--json")
    assert [r["id"] for r in json.loads(out)] == [LU_LUT]
    code, out, _ = run(capsys, "articles", "list", "--sort", "title", "--json")
    titles = [r["title"] for r in json.loads(out)]
    assert titles == sorted(titles, key=str.lower)


def test_articles_add_import_and_delete_update_the_index(own_env, capsys):
    assert run(capsys, "index", "build", "-q")[0] == 0
    code, out, _ = run(capsys, "articles", "add", "--title", "Cầu Rồng mở cửa cho người đi bộ", "--text",
                       "Người đi bộ được lên cầu Rồng vào cuối tuần. Cầu phun lửa lúc 21 giờ.", "--date", "2024-09-01",
                       "-q")
    assert code == 0 and out.startswith("ok ") and "1 added" in out
    extra = own_env / "extra.md"
    extra.write_text(article_file("ignored", {"title": "Phố đi bộ Hồ Gươm mở rộng", "date": "2024-09-02"},
                                  "Phố đi bộ quanh Hồ Gươm được mở rộng thêm ba tuyến phố."), encoding="utf-8")
    code, out, _ = run(capsys, "articles", "import", str(extra), "-q")
    assert code == 0 and "1 added" in out
    code, out, err = run(capsys, "articles", "import", str(extra), "-q")  # the same file again
    assert code == 0 and err.startswith("duplicate") and "Phố đi bộ Hồ Gươm" in err and out == ""  # no update run
    code, out, _ = run(capsys, "index", "status", "--json")
    assert json.loads(out)["articles"] == len(ARTICLES) + 2
    code, out, _ = run(capsys, "articles", "delete", SU_DOAN, "--no-update")
    assert code == 0 and "Deleted" in out and "Updated" not in out
    assert json.loads(run(capsys, "index", "status", "--json")[1])["articles"] == len(ARTICLES) + 2
    code, out, _ = run(capsys, "index", "update", "-q")
    assert code == 0 and "1 removed" in out
    code, out, _ = run(capsys, "articles", "list", "--json")
    assert SU_DOAN not in {r["id"] for r in json.loads(out)} and len(json.loads(out)) == len(ARTICLES) + 1
    code, _, err = run(capsys, "articles", "delete", SU_DOAN)
    assert code == 2 and "No article with id" in err


def test_model_info_goes_through_the_replaced_loader(shared_env, capsys):
    code, out, _ = run(capsys, "model", "info", "--json")
    info = json.loads(out)
    assert code == 0 and info["name"] == FAKE_MODEL and info["dimension"] > 0


def test_errors_are_one_line_and_exit_2(own_env, monkeypatch, capsys, shared_qa):
    code, _, err = run(capsys, "ask", "xin chào")
    assert code == 2 and "No index found" in err and "newsqa index build" in err and "Traceback" not in err
    # An index built with another model is refused, and the fix is named.
    code, _, err = run(capsys, "ask", "xin chào", "--index", str(shared_qa.settings.index_dir), "--model", "other/model")
    assert code == 2 and f"built with the embedding model '{FAKE_MODEL}'" in err and f"NEWSQA_MODEL={FAKE_MODEL}" in err
    # A path the index cannot live at is a message too, not a traceback.
    blocker = own_env / "a-file"
    blocker.write_text("not a folder", "utf-8")
    code, _, err = run(capsys, "index", "build", "--index", str(blocker / "index"))
    assert code == 2 and err.startswith("error:") and "Traceback" not in err
    # Numbers that would misbehave far from where they are set are refused where they are read.
    for name, raw, said in (("FEED_INTERVAL", "nan", "from 0"), ("CHUNK_OVERLAP", "5000", "below NEWSQA_CHUNK_SIZE"),
                            ("TOP_K", "0", "from 1"), ("FEED_INTERVAL", "1e12", "to 1e9"),
                            ("FEED_INTERVAL", "60", "NEWSQA_FEED_MIN_INTERVAL")):
        monkeypatch.setenv(f"NEWSQA_{name}", raw)
        code, _, err = run(capsys, "search", "x")
        assert code == 2 and f"NEWSQA_{name}=" in err and said in err, err
        monkeypatch.delenv(f"NEWSQA_{name}")
    monkeypatch.setenv("NEWSQA_TOP_K", "five")
    code, _, err = run(capsys, "search", "x")
    assert code == 2 and "NEWSQA_TOP_K='five' is not a valid int" in err
