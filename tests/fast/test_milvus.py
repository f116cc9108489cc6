"""The Milvus backend against the local one, on milvus-lite in this process: the same BM25 (sparse
vectors = term-frequency part, query = idf), the same dense search, filters inside both searches,
versions published by an alias, and clear errors for a wrong server or collection."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.errors import IndexMismatchError, IndexStateError, InputError
from assistant.retrieval import Retriever, SearchFilters, SearchRequest
from assistant.service import NewsQA
from assistant.settings import Settings
from index import milvus
from index.lexical import analyze_query
from tests.conftest import CORPUS
from tests.fast.conftest import fast_settings

QUESTIONS = [
    "Đại tá Lương Thanh Bình giao nhiệm vụ gì cho Sư đoàn 346?",
    "dai ta luong thanh binh giao nhiem vu gi",
    "What tasks did Colonel Lương Thanh Bình assign?",
    "giá vàng hôm nay tăng bao nhiêu",
    "Hội nghị tổng kết năm 2022 diễn ra ở đâu?",
    "tai nan giao thong",
    "How many people attended the conference in 2022?",
    "bệnh viện",
]


@pytest.fixture(scope="module")
def pair(tmp_path_factory, fake_embedder):
    """The bundled corpus indexed locally and into milvus-lite, with the fake embedder."""
    root = tmp_path_factory.mktemp("milvus-pair")
    base = fast_settings(root).with_(corpus_dir=CORPUS)
    local = NewsQA(base, embedder=fake_embedder)
    local.build()
    remote = NewsQA(base.with_(index_dir=root / "milvus-index", backend="milvus"), embedder=fake_embedder)
    remote.build()
    return local, remote


@pytest.mark.parametrize("question", QUESTIONS)
def test_sparse_vectors_score_bm25_like_the_local_index(pair, question):
    local, remote = (qa.index().search for qa in pair)
    assert (local.kind, remote.kind) == ("local", "milvus")
    tokens = analyze_query(question)
    want, got = local.lexical(tokens, 10).top, remote.lexical(tokens, 10).top
    assert want, question
    assert list(got) == list(want) or _tied(want, got)
    assert max(abs(want[c] - got.get(c, np.inf)) for c in want) < 1e-4
    # Scores of passages outside the top (what fusion asks for the dense side's candidates).
    others = sorted(set(range(40)) - set(want))[:12]
    assert np.allclose(local.lexical(tokens, 10).score_of(others), remote.lexical(tokens, 10).score_of(others),
                       atol=1e-4)


def _tied(want: dict[int, float], got: dict[int, float]) -> bool:
    """Same scores in the same order; passages with equal scores may come in either order."""
    return np.allclose(list(want.values()), list(got.values()), atol=1e-4) and set(want) == set(got)


@pytest.mark.parametrize("question", QUESTIONS)
def test_hybrid_search_ranks_the_same_on_both_backends(pair, fake_embedder, question):
    local, remote = (Retriever(qa.index(), fake_embedder) for qa in pair)
    request = SearchRequest(question, k=8)
    want, got = local.search(request), remote.search(request)
    assert [h.chunk_id for h in got] == [h.chunk_id for h in want]
    assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-3)


@pytest.mark.parametrize("filters,matches", [
    (SearchFilters(sources=("baomoi.com",)), True),
    (SearchFilters(date_from="2022-05-01", date_to="2022-05-31"), True),  # the seed article alone
    (SearchFilters(date_to="2021-12-31"), False),  # undated articles never pass a date bound
    (SearchFilters(sources=('Nguồn "lạ" \\ ]',)), False),  # quotes and brackets stay inside the literal
    (SearchFilters(sources=("bao\x01moi",)), False),  # a control character: no match, not a parse error
])
def test_filters_run_inside_both_searches(pair, fake_embedder, filters, matches):
    local, remote = (Retriever(qa.index(), fake_embedder) for qa in pair)
    assert bool(remote.search(SearchRequest(QUESTIONS[0], filters=filters))) == matches
    for question in QUESTIONS[:4]:
        for mode in ("hybrid", "dense", "lexical"):
            request = SearchRequest(question, k=10, mode=mode, filters=filters)
            want, got = local.search(request), remote.search(request)
            assert [h.chunk_id for h in got] == [h.chunk_id for h in want] or (
                {h.chunk_id for h in got} == {h.chunk_id for h in want})
            for hit in got:
                assert not filters.sources or hit.source in filters.sources
                assert not filters.date_from or (hit.date and hit.date >= filters.date_from)
                assert not filters.date_to or (hit.date and hit.date <= filters.date_to)


def test_answers_are_the_same_on_both_backends(pair):
    local, remote = pair
    for question in QUESTIONS:
        a, b = local.ask(question), remote.ask(question)
        assert (a.found, a.answer, [c.article_id for c in a.citations]) == (
            b.found, b.answer, [c.article_id for c in b.citations])


def test_index_check_counts_the_collection(pair):
    from index.reader import check_index

    _, remote = pair
    integrity = check_index(remote.settings.index_dir, remote.settings.milvus_config())
    assert integrity.ok and integrity.vectors == integrity.sqlite_chunks > 20


def test_each_build_is_a_collection_published_by_the_alias(tmp_path, fake_embedder):
    settings = fast_settings(tmp_path).with_(corpus_dir=CORPUS, backend="milvus")
    qa = NewsQA(settings, embedder=fake_embedder)
    names = []
    for _ in range(3):
        qa.build()
        names.append(qa.index().manifest.collection)
        client = milvus.connect(settings.milvus_config(), settings.index_dir)
        assert milvus.alias_target(client, settings.milvus_prefix) == names[-1]
    assert len(set(names)) == 3
    ours = sorted(n for n in client.list_collections() if n.startswith(settings.milvus_prefix + "_"))
    # The live version and the one it replaced are kept (rollback, readers of the old one); older ones go.
    assert ours == sorted(names[1:])
    assert qa.ask("Đại tá Lương Thanh Bình giao nhiệm vụ gì?").citations


def test_unreachable_server_is_one_clear_error_and_the_live_index_stays(tmp_path, fake_embedder):
    settings = fast_settings(tmp_path).with_(corpus_dir=CORPUS)
    NewsQA(settings, embedder=fake_embedder).build()
    before = (settings.index_dir / "CURRENT").read_text()
    bad = settings.with_(backend="milvus", milvus_uri="http://127.0.0.1:9")
    with pytest.raises(IndexStateError) as err:
        NewsQA(bad, embedder=fake_embedder).build()
    assert err.value.key == "milvus_unreachable"
    assert "NEWSQA_MILVUS_URI" in err.value.message("en") and "NEWSQA_MILVUS_URI" in err.value.message("vi")
    assert (settings.index_dir / "CURRENT").read_text() == before
    assert NewsQA(settings, embedder=fake_embedder).ask("Sư đoàn 346").citations


def test_a_collection_of_another_dimension_or_a_missing_one_is_refused(tmp_path, fake_embedder):
    settings = fast_settings(tmp_path).with_(corpus_dir=CORPUS, backend="milvus")
    NewsQA(settings, embedder=fake_embedder).build()
    qa = NewsQA(settings, embedder=fake_embedder)
    name = qa.index().manifest.collection
    client = milvus.connect(settings.milvus_config(), settings.index_dir)
    client.drop_collection(name)
    with pytest.raises(IndexStateError) as err:
        NewsQA(settings, embedder=fake_embedder).index()
    assert err.value.key == "milvus_collection_missing" and name in str(err.value)
    client.create_collection(name, schema=milvus._schema(8), index_params=milvus._index_params(client))
    with pytest.raises(IndexMismatchError) as err:
        NewsQA(settings, embedder=fake_embedder).index()
    assert err.value.key == "milvus_dimension_mismatch" and "8-d" in str(err.value)


def test_backend_settings_are_checked():
    with pytest.raises(InputError) as err:
        Settings.from_env({"NEWSQA_BACKEND": "qdrant"})
    assert "local, milvus" in str(err.value)
    with pytest.raises(InputError):
        Settings.from_env({"NEWSQA_MILVUS_PREFIX": "news-qa"})
    settings = Settings.from_env({"NEWSQA_BACKEND": "milvus", "NEWSQA_MILVUS_URI": "http://h:19530",
                                  "NEWSQA_MILVUS_TOKEN": "u:p"})
    assert settings.milvus_config().uri == "http://h:19530" and "u:p" not in repr(settings)


def test_where_expressions_escape_their_values(pair, fake_embedder):
    from index.search import Where

    injected = 'x"] or id >= 0 or source in ["'
    expr = milvus.where_expression(Where(sources=(injected,), date_to="2024-01-31"))
    assert expr == 'source in ["x\\"] or id >= 0 or source in [\\""] and date > 0 and date <= 20240131'
    _, remote = pair
    assert not Retriever(remote.index(), fake_embedder).search(
        SearchRequest("Sư đoàn 346", filters=SearchFilters(sources=(injected,))))


def test_an_index_never_touches_the_collections_of_another_index_on_the_same_server(tmp_path, fake_embedder):
    shared = str(tmp_path / "shared-milvus.db")  # one milvus-lite store, like one server for two indexes
    first = fast_settings(tmp_path / "a").with_(corpus_dir=CORPUS, backend="milvus", milvus_uri=shared)
    NewsQA(first, embedder=fake_embedder).build()
    live = NewsQA(first, embedder=fake_embedder).index().manifest.collection
    second = fast_settings(tmp_path / "b").with_(corpus_dir=CORPUS, backend="milvus", milvus_uri=shared)
    with pytest.raises(IndexStateError) as err:
        NewsQA(second, embedder=fake_embedder).build()
    assert err.value.key == "milvus_prefix_taken" and "NEWSQA_MILVUS_PREFIX" in err.value.message("en")
    other = second.with_(milvus_prefix="staging")
    for _ in range(3):  # its own old versions are pruned, never the first index's
        NewsQA(other, embedder=fake_embedder).build()
    client = milvus.connect(first.milvus_config(), first.index_dir)
    assert live in client.list_collections() and milvus.alias_target(client, "newsqa") == live
    assert NewsQA(first, embedder=fake_embedder).ask("Sư đoàn 346 giao nhiệm vụ gì?").citations


def test_switching_backend_needs_a_full_update(tmp_path, fake_embedder):
    from index.updater import update_index

    settings = fast_settings(tmp_path).with_(corpus_dir=CORPUS)
    NewsQA(settings, embedder=fake_embedder).build()
    moved = settings.with_(backend="milvus")
    with pytest.raises(IndexMismatchError) as err:
        update_index(moved.index_config(), fake_embedder)
    assert "backend local -> milvus" in str(err.value) and "--full" in str(err.value)
    report = update_index(moved.index_config(), fake_embedder, full=True)
    assert report.build.embedded == 0 and NewsQA(moved, embedder=fake_embedder).index().search.kind == "milvus"


def test_a_lite_file_held_by_another_process_is_named(tmp_path, fake_embedder):
    import subprocess
    import sys

    settings = fast_settings(tmp_path).with_(corpus_dir=CORPUS, backend="milvus")
    qa = NewsQA(settings, embedder=fake_embedder)
    qa.build()  # this process now serves the file
    code = ("from assistant.settings import Settings\nfrom index import milvus\n"
            "from assistant.errors import IndexStateError\n"
            f"s = Settings(index_dir={str(settings.index_dir)!r})\n"
            "try:\n    milvus.connect(s.milvus_config(), s.index_dir)\n"
            "except IndexStateError as e:\n    print(e.key, e.message('en'))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("milvus_lite_busy") and "NEWSQA_MILVUS_URI" in done.stdout, done.stderr[-1500:]
    assert "Traceback" not in done.stderr


NEW_ARTICLE = ("---\ntitle: Nhà máy điện gió Bạc Liêu vận hành tua bin mới\ndate: 2024-07-01\nsource: Báo Thử\n---\n\n"
               "Nhà máy điện gió Bạc Liêu vừa vận hành thêm mười hai tua bin, nâng công suất lên 141 megawatt. "
               "Giám đốc nhà máy cho biết sản lượng điện đủ cho hai trăm nghìn hộ dân.\n")


def _visible_rows(qa: NewsQA) -> tuple[int, int]:
    """(rows the live version sees, rows physically in its collection)."""
    idx = qa.index()
    client = milvus.connect(qa.settings.milvus_config(), qa.settings.index_dir)
    return idx.search.counts()[0], milvus.collection_rows(client, idx.manifest.collection)


def _bm25_by_passage(qa: NewsQA, question: str) -> dict[tuple[str, str], float]:
    idx = qa.index()
    top = idx.search.lexical(analyze_query(question), 500).top
    chunks = idx.db.chunks(top)
    return {(chunks[c].article_id, chunks[c].text): score for c, score in top.items()}


def test_an_update_patches_the_live_collection_and_ranks_like_a_full_build(fresh, fake_embedder):
    from index.updater import update_index

    settings = fresh.with_(backend="milvus")
    qa = NewsQA(settings, embedder=fake_embedder)
    qa.build()
    first = qa.index().manifest
    assert first.milvus_seq == 1 and _visible_rows(qa) == (first.chunks, first.chunks)
    corpus = settings.corpus_dir
    (corpus / "dien-gio.md").write_text(NEW_ARTICLE, encoding="utf-8")
    edited = corpus / "truong-hoa-binh.md"
    edited.write_text(edited.read_text(encoding="utf-8") + "\nNhà trường khánh thành thư viện mới.\n", encoding="utf-8")
    (corpus / "lu-lut-mien-trung.md").unlink()
    report = update_index(settings.index_config(), fake_embedder)
    assert report.added == ["dien-gio"] and report.changed == ["truong-hoa-binh"] and report.removed
    second = qa.index().manifest
    # The same collection, one version further; the edited and removed passages hidden, not yet deleted.
    assert second.collection == first.collection and second.milvus_seq == 2 and second.milvus_hidden
    visible, stored = _visible_rows(qa)
    assert visible == second.chunks and stored == visible + len(second.milvus_hidden)
    ans = qa.ask("Nhà máy điện gió Bạc Liêu vận hành bao nhiêu tua bin?")
    assert ans.citations and ans.citations[0].article_id == "dien-gio"
    assert "lu-lut-mien-trung" not in {h.article_id for h in qa.search("mưa lớn gây lũ ở miền Trung", k=10)}
    # Against a full build of the same corpus (ids differ: passages compared by article and text): the
    # dense side is identical; BM25 matches the same passages with the same IDF, and only the unchanged
    # rows' term-frequency part keeps the old average passage length (this 7-article corpus lost a
    # long article: the average moved by far more than an update moves it in a real archive).
    full = NewsQA(settings.with_(index_dir=settings.index_dir.parent / "full"), embedder=fake_embedder)
    full.build()
    drift = []
    for question in QUESTIONS + ["điện gió Bạc Liêu", "thư viện mới của trường"]:
        # k above the corpus's passages: every passage, ties (the fake's floor) in any order.
        a = sorted((-h.score, h.article_id, h.text) for h in qa.search(question, k=50, mode="dense"))
        b = sorted((-h.score, h.article_id, h.text) for h in full.search(question, k=50, mode="dense"))
        assert a == b, question
        a, b = _bm25_by_passage(qa, question), _bm25_by_passage(full, question)
        assert set(a) == set(b), question
        drift += [abs(a[key] - b[key]) / b[key] for key in b]
    assert 0 < max(drift) < 0.15
    # The next update deletes the rows hidden since the one before.
    (corpus / "dien-gio.md").unlink()
    update_index(settings.index_config(), fake_embedder)
    third = qa.index().manifest
    assert third.milvus_seq == 3 and third.collection == first.collection
    visible, stored = _visible_rows(qa)
    assert visible == third.chunks and stored == visible + len(set(third.milvus_hidden) - set(second.milvus_hidden))


def test_a_failed_update_leaves_the_live_version_as_it_was(fresh, fake_embedder, monkeypatch):
    from index.updater import update_index

    settings = fresh.with_(backend="milvus")
    qa = NewsQA(settings, embedder=fake_embedder)
    qa.build()
    before = [(h.chunk_id, h.score) for h in qa.search("Hợp tác xã Hoa Sen", k=5)]
    (settings.corpus_dir / "dien-gio.md").write_text(NEW_ARTICLE, encoding="utf-8")
    real_patch = milvus.patch_collection

    def insert_then_fail(client, name, seq, rows, expected, hidden):
        for row in rows:
            client.insert(name, [row])
        client.flush(name)
        raise KeyboardInterrupt  # killed after its rows reached the collection

    monkeypatch.setattr(milvus, "patch_collection", insert_then_fail)
    with pytest.raises(KeyboardInterrupt):
        update_index(settings.index_config(), fake_embedder)
    monkeypatch.setattr(milvus, "patch_collection", real_patch)
    reopened = NewsQA(settings, embedder=fake_embedder)
    assert [(h.chunk_id, h.score) for h in reopened.search("Hợp tác xã Hoa Sen", k=5)] == before
    assert not any(h.article_id == "dien-gio" for h in reopened.search("điện gió Bạc Liêu", k=10))
    update_index(settings.index_config(), fake_embedder)
    visible, stored = _visible_rows(reopened)
    assert visible == reopened.index().manifest.chunks == stored  # the killed update's rows are gone
    assert reopened.search("điện gió Bạc Liêu", k=1)[0].article_id == "dien-gio"


def test_an_update_hiding_too_many_passages_writes_a_new_collection(fresh, fake_embedder, monkeypatch):
    from index import milvus_build
    from index.updater import update_index

    settings = fresh.with_(backend="milvus")
    qa = NewsQA(settings, embedder=fake_embedder)
    qa.build()
    first = qa.index().manifest.collection
    (settings.corpus_dir / "lu-lut-mien-trung.md").unlink()
    monkeypatch.setattr(milvus_build, "MAX_HIDDEN", 0)
    update_index(settings.index_config(), fake_embedder)
    live = qa.index().manifest
    assert live.collection != first and live.milvus_seq == 1 and not live.milvus_hidden
    assert _visible_rows(qa) == (live.chunks, live.chunks)
    assert "lu-lut-mien-trung" not in {h.article_id for h in qa.search("mưa lớn gây lũ ở miền Trung", k=10)}
    client = milvus.connect(settings.milvus_config(), settings.index_dir)
    assert milvus.alias_target(client, settings.milvus_prefix) == live.collection


def test_a_collection_without_version_numbers_is_read_whole(pair, fake_embedder):
    """Manifests written before versions had numbers (milvus_seq 0) search without a version filter."""
    from index.milvus import MilvusSearch

    _, remote = pair
    idx = remote.index()
    old = MilvusSearch(idx.search.client, idx.manifest.collection, idx.manifest.dimension, idx.lexical.term_weight,
                       len(idx.lexical), seq=0)
    qv = fake_embedder.encode_queries(["Sư đoàn 346"])[0]
    assert old.dense(qv, 5) == idx.search.dense(qv, 5)
    assert old.lexical(analyze_query("Sư đoàn 346"), 5).top == idx.search.lexical(analyze_query("Sư đoàn 346"), 5).top
    assert old.counts() == idx.search.counts()


@pytest.mark.parametrize("backend", ["local", "milvus"])
def test_a_date_or_source_edit_alone_reaches_the_index(fresh, fake_embedder, backend):
    """The text unchanged, only the front matter edited: the update republishes the article, and the
    filters (which read the date and the source) see the new values."""
    from index.updater import update_index

    settings = fresh.with_(backend=backend)
    qa = NewsQA(settings, embedder=fake_embedder)
    qa.build()
    path = settings.corpus_dir / "lu-lut-mien-trung.md"
    path.write_text(path.read_text(encoding="utf-8").replace("date: 2023-10-02", "date: 2021-03-04")
                    .replace("source: Báo Miền Trung", "source: Báo Thử Nghiệm"), encoding="utf-8")
    report = update_index(settings.index_config(), fake_embedder)
    assert report.changed == ["lu-lut-mien-trung"] and not report.added and not report.removed
    new_range = SearchFilters(date_from="2021-03-01", date_to="2021-03-31")
    hits = qa.search("mưa lớn gây lũ ở miền Trung", k=5, filters=new_range)
    assert [h.article_id for h in hits][:1] == ["lu-lut-mien-trung"] and hits[0].date == "2021-03-04"
    assert not qa.search("mưa lớn gây lũ ở miền Trung", k=5, filters=SearchFilters(date_from="2023-10-01",
                                                                                      date_to="2023-10-31"))
    by_source = qa.search("mưa lớn", k=5, filters=SearchFilters(sources=("Báo Thử Nghiệm",)))
    assert {h.article_id for h in by_source} == {"lu-lut-mien-trung"}
    assert update_index(settings.index_config(), fake_embedder).up_to_date
