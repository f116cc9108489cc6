"""Extractive answers without the model: candidate sentences, the relevance gate, sentence
selection, citations and markers, refusals, a fitted gate file, and the sentence cache."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pytest

from assistant.answering import (
    ANSWER_MARGIN,
    BUNDLED_GATE,
    DUPLICATE_COSINE,
    GATE_FEATURES,
    LOOKAHEAD_CHARS,
    MAX_ENCODED,
    MAX_ENCODED_CROSS_LINGUAL,
    MIN_DENSE,
    MIN_GAP,
    MIN_OVERLAP,
    STRONG_DENSE,
    Candidate,
    ExtractiveAnswerer,
    GateModel,
    ScoredSentence,
    SentenceCache,
    gate_features,
    load_gate,
    question_pairs,
)
from assistant.errors import InputError
from assistant.messages import t
from assistant.records import Hit
from assistant.request import AskRequest
from assistant.retrieval import Retrieval, SearchFilters
from assistant.service import NewsQA
from index.corpus import Article
from tests.fast.fakes import ARTICLES, HOA_SEN, HOA_SEN_COPY, METRO, SU_DOAN, FakeEmbedder

HOA_SEN_QUESTION = "Nhà máy sấy vải thiều của hợp tác xã Hoa Sen công suất bao nhiêu?"
UNRELATED_VI = "Thời tiết ở Đà Lạt cuối tuần có sương mù không?"
UNRELATED_EN = "Who won the chess olympiad in Budapest?"


def quoted_lines(answer: str) -> list[tuple[str, int]]:
    """(sentence, marker) for each quoted line of an extractive answer."""
    return [(m[1], int(m[2])) for m in re.finditer(r"^(.*) \[(\d+)\]$", answer, re.M)]


# -- the gate and the selection, on hand-made numbers ------------------------------------------


def scored(dense: float, overlap: float = 0.0, vector=(1.0, 0.0), article: str = "a") -> ScoredSentence:
    v = np.asarray(vector, np.float32)
    start = int(dense * 10_000)  # one sentence per score: each has its own place in the article
    return ScoredSentence(Candidate(0, article, start, start + 1, f"{article}:{dense}", ""), dense, overlap,
                          v / np.linalg.norm(v))


def leaning(dense: float, start: int, previous_start: int, vector=(1.0, 0.0)) -> ScoredSentence:
    """A sentence that matched the question through the one before it (at `previous_start`)."""
    v = np.asarray(vector, np.float32)
    cand = Candidate(0, "a", start, start + 10, f"s{start}", f"s{previous_start}", previous_start)
    return ScoredSentence(cand, dense, 0.0, v / np.linalg.norm(v), True)


def test_a_sentence_leaning_on_its_predecessor_quotes_both_once_and_within_one_extra_slot():
    lead = leaning(0.90, start=100, previous_start=50)
    assert lead.quoted == (50, "s50 s100")
    # Its predecessor is also a candidate of its own: quoted once, inside the first quote.
    predecessor = ScoredSentence(Candidate(0, "a", 50, 99, "s50", ""), 0.89, 0.0, np.array([0.0, 1.0], np.float32))
    other = leaning(0.88, start=300, previous_start=250, vector=(0.6, -0.8))
    third = scored(0.87, vector=(-0.6, -0.8))
    chosen = ExtractiveAnswerer.pick([lead, predecessor, other, third], 3)
    # lead (2 sentences) + other (2) would be 4 = limit + 1; third would make 5: left out.
    assert [s.candidate.start for s in chosen] == [100, 300]
    assert [s.quoted[0] for s in chosen] == [50, 250]
    # A leaning sentence whose predecessor was already quoted is quoted alone.
    again = leaning(0.85, start=50, previous_start=10, vector=(-1.0, 0.0))
    follow = leaning(0.89, start=90, previous_start=50, vector=(0.0, 1.0))
    picked = ExtractiveAnswerer.pick([again, follow], 3)
    assert [s.quoted for s in picked] == [(10, "s10 s50"), (90, "s90")]


@pytest.mark.parametrize("dense,overlap,gap,lang,passes", [
    (MIN_DENSE - 0.01, 1.0, 1.0, "vi", False),  # too far from the question, whatever the words say
    (MIN_DENSE, MIN_OVERLAP, 0.0, "vi", True),  # enough shared words: no gap needed
    (STRONG_DENSE, MIN_OVERLAP - 0.01, MIN_GAP - 0.001, "vi", False),  # few words and no standout passage
    (STRONG_DENSE - 0.01, 0.0, MIN_GAP, "vi", False),  # a Vietnamese paraphrase must match strongly
    (STRONG_DENSE, 0.0, MIN_GAP, "vi", True),
    (MIN_DENSE, 0.0, MIN_GAP, "en", True),  # another language shares no words: the gap decides
])
def test_relevance_gate(dense, overlap, gap, lang, passes):
    assert ExtractiveAnswerer.relevant(scored(dense, overlap), lang, gap) is passes


def test_pick_stops_at_the_margin_skips_near_duplicates_and_keeps_the_limit():
    best = scored(0.90, vector=(1.0, 0.0))
    # cos(best, twin) = 0.95 >= DUPLICATE_COSINE: a caption repeating the lead
    twin = scored(0.89, vector=(0.95, np.sqrt(1 - 0.95 ** 2)))
    other = scored(0.88, vector=(0.0, 1.0))
    third = scored(0.87, vector=(0.6, -0.8))
    weak = scored(0.90 - ANSWER_MARGIN - 0.01, vector=(-1.0, 0.0))
    assert float(best.vector @ twin.vector) >= DUPLICATE_COSINE
    ranked = [best, twin, other, third, weak]
    assert ExtractiveAnswerer.pick(ranked, 5) == [best, other, third]
    assert ExtractiveAnswerer.pick(ranked, 2) == [best, other]
    assert ExtractiveAnswerer.pick(ranked, 1) == [best]


def test_candidates_are_the_passage_sentences_and_those_just_after_it_with_their_context():
    first = "Câu thứ nhất nói về nhà máy."
    second = "Câu thứ hai nói về vốn."
    long_gap = "Đoạn rất dài " + "chữ " * (LOOKAHEAD_CHARS // 4) + "kết thúc."
    far = "Câu ở rất xa không được xét."
    text = " ".join([first, second, long_gap, far])
    art = Article(id="x", title="Tiêu đề", text=text)
    hit = Hit(article_id="x", title="Tiêu đề", date=None, url="", source="", text=first, score=1.0, chunk_id=0,
              position=0, start=0, end=len(first))
    answerer = ExtractiveAnswerer(FakeEmbedder(), lexical=None)
    cands = answerer.candidates([hit], {"x": art})
    assert [c.text for c in cands] == [first, second, long_gap]
    assert [c.previous for c in cands] == ["", first, second]
    assert cands[1].window == f"{first} {second}"
    assert answerer.candidates([hit], {}) == []  # an article missing from the store gives nothing


# -- through the service over the small index --------------------------------------------------


def test_an_answerable_question_quotes_the_article_and_every_marker_has_its_citation(shared_qa):
    ans = shared_qa.ask(HOA_SEN_QUESTION)
    assert ans.found and ans.language == "vi" and ans.mode == "extractive" and ans.notice == ""
    assert ans.citations[0].article_id in (HOA_SEN, HOA_SEN_COPY) and "40 tấn" in ans.answer
    lines = quoted_lines(ans.answer)
    assert lines and {n for _, n in lines} == {c.n for c in ans.citations}
    for sentence, n in lines:
        # The cited passage is widened to hold every sentence quoted from it.
        assert sentence in ans.citations[n - 1].text
    assert ans.gate is not None and ans.gate.passed and ans.gate.features["overlap"] >= MIN_OVERLAP


def test_the_number_of_quoted_sentences_follows_the_setting(shared_qa):
    # Not a "how many" question: the sentence holding the number would stand out and be quoted alone.
    question = HOA_SEN_QUESTION.replace("bao nhiêu", "thế nào")
    longer = shared_qa.ask(question)
    assert len(quoted_lines(longer.answer)) >= 2
    one = NewsQA(shared_qa.settings.with_(answer_sentences=1), embedder=shared_qa.embedder).ask(question)
    assert len(quoted_lines(one.answer)) == 1 and one.answer == quoted_lines(longer.answer)[0][0] + " [1]"


def test_an_english_question_gets_an_english_frame(shared_qa):
    ans = shared_qa.ask("How long is the elevated section of the metro line?")
    assert ans.found and ans.language == "en" and ans.answer.startswith(t("answer_intro", "en") + "\n")
    assert ans.citations[0].article_id == METRO and "8.5 kilometres" in ans.answer


@pytest.mark.parametrize("question,lang", [(UNRELATED_VI, "vi"), (UNRELATED_EN, "en")])
def test_unrelated_questions_are_refused_in_their_language(shared_qa, question, lang):
    ans = shared_qa.ask(question)
    assert not ans.found and ans.language == lang and ans.citations == []
    assert ans.answer == t("not_found", lang)
    assert ans.hits  # passages were retrieved; the gate turned them down
    assert ans.gate is not None and not ans.gate.passed


@pytest.mark.parametrize("question,ui_lang,key", [("", "vi", "empty_question"), ("   ", "en", "empty_question"),
                                                  ("x" * 2001, "en", "too_long")])
def test_bad_questions_get_a_message(shared_qa, question, ui_lang, key):
    ans = shared_qa.ask(question, ui_lang=ui_lang)
    expected = t(key, ui_lang, n=len(question), limit=shared_qa.settings.max_question_chars)
    assert not ans.found and ans.answer == expected and ans.citations == [] and ans.hits == []


def gate_file(tmp_path, intercept: float):
    path = tmp_path / f"gate{intercept}.json"
    path.write_text(json.dumps({"names": ["dense", "overlap"], "mean": [0.8, 0.3], "scale": [0.05, 0.2],
                                "coef": [1.0, 1.0], "intercept": intercept, "threshold": 0.5}), encoding="utf-8")
    return path


def test_a_fitted_gate_file_replaces_the_fixed_rule(shared_qa, tmp_path):
    def with_gate(intercept):
        return NewsQA(shared_qa.settings.with_(answer_gate=str(gate_file(tmp_path, intercept))),
                      embedder=shared_qa.embedder)

    assert not with_gate(-50.0).ask(HOA_SEN_QUESTION).found  # a model that always refuses
    forced = with_gate(50.0).ask(UNRELATED_VI)  # ... and one that always answers
    assert forced.found and forced.citations and forced.gate.probability > 0.99
    neutral = with_gate(0.0).ask(HOA_SEN_QUESTION)
    assert neutral.found and 0.5 < neutral.gate.probability < 1.0


def test_the_setting_names_the_gate(tmp_path):
    fitted = load_gate("fitted")
    assert fitted is not None and fitted == load_gate("") == load_gate(str(BUNDLED_GATE))
    assert set(fitted.names) == set(GATE_FEATURES) and 0 < fitted.threshold < 1
    assert load_gate("rule") is None and load_gate(" Rule ") is None
    with pytest.raises(InputError, match="fitted, rule"):
        load_gate("rules")  # a typo is not taken for a file name
    with pytest.raises(InputError, match="NEWSQA_ANSWER_GATE"):
        load_gate(str(tmp_path / "missing.json"))
    stale = tmp_path / "stale.json"  # a feature the answerer no longer measures would read as 0
    stale.write_text(json.dumps({"names": ["lead_pair"], "mean": [0.0], "scale": [1.0], "coef": [1.0],
                                 "intercept": 0.0, "threshold": 0.5}), encoding="utf-8")
    with pytest.raises(InputError, match="lead_pair"):
        load_gate(str(stale))


def test_the_answerer_measures_every_gate_feature(shared_qa):
    assert set(shared_qa.ask(HOA_SEN_QUESTION).gate.features) == set(GATE_FEATURES)


def test_a_question_about_someone_it_does_not_name_needs_the_rule_as_well(shared_qa):
    lexical = shared_qa.index().lexical
    strong, weak = [scored(0.95, overlap=0.9)], [scored(0.5)]
    retrieval = Retrieval([], 0.1)

    def decide(intercept, ranked, unresolved):
        gate = GateModel(["dense"], [0.8], [0.1], [0.0], intercept, 0.5)
        return ExtractiveAnswerer(shared_qa.embedder, lexical, gate=gate).decide(
            "Ông ấy giữ chức vụ gì?", "vi", ranked, retrieval, unresolved=unresolved).passed

    assert decide(50.0, weak, unresolved=False)  # the gate alone decides a question that names its subject
    assert not decide(50.0, weak, unresolved=True)  # ... not one about "him" with no conversation
    assert decide(50.0, strong, unresolved=True)
    assert not decide(-50.0, strong, unresolved=True)


def test_an_english_question_sends_more_sentences_to_the_model(shared_qa):
    answerer = ExtractiveAnswerer(shared_qa.embedder, shared_qa.index().lexical)
    cands = [Candidate(hit_index=i // 10, article_id="a", start=i, end=i + 1, text=f"câu số {i}", previous="")
             for i in range(30)]
    qv = shared_qa.embedder.encode_queries(["question"])[0]
    assert len(answerer.score("Câu hỏi?", qv, cands, lang="vi")) == MAX_ENCODED
    english = answerer.score("Which sentence?", qv, cands, lang="en")
    assert len(english) == MAX_ENCODED_CROSS_LINGUAL > MAX_ENCODED
    assert sorted(s.candidate.start for s in english) == list(range(MAX_ENCODED_CROSS_LINGUAL))


def test_a_number_question_marks_the_sentence_holding_a_new_number(shared_qa):
    answerer = ExtractiveAnswerer(shared_qa.embedder, shared_qa.index().lexical)
    texts = ["Nhà máy có công suất 40 tấn mỗi ngày.", "Nhà máy có công suất lớn.", "Năm 2024 nhà máy có công suất lớn."]
    cands = [Candidate(0, "a", 100 * i, 100 * i + len(x), x, "") for i, x in enumerate(texts)]
    qv = shared_qa.embedder.encode_queries(["q"])[0]

    def marked(question, followup=None):
        ranked = answerer.score(question, qv, cands, followup, lang="vi")
        return {s.candidate.text for s in ranked if s.kind_match}

    assert marked("Năm 2024 nhà máy có công suất bao nhiêu?") == {texts[0]}  # 2024 is the question's own
    assert marked("Nhà máy có công suất thế nào?") == set()
    # A follow-up's subject is not news either: its numbers are known.
    assert marked("Công suất bao nhiêu?", ("Nhà máy 40 tấn của năm 2024", qv)) == set()
    plain, number = scored(0.90), replace(scored(0.89), kind_match=True)
    assert number.score > plain.score


def test_a_follow_ups_sentences_from_the_subject_article_count_a_little_more(shared_qa):
    answerer = ExtractiveAnswerer(shared_qa.embedder, shared_qa.index().lexical)
    texts = ["Ông ấy yêu cầu các sở lên kế hoạch.", "Đồng chí Phó chủ nhiệm yêu cầu đơn vị tập trung."]
    # The subject is the article of the first passage retrieved with the conversation's subject.
    cands = [Candidate(3, "stranger", 0, len(texts[0]), texts[0], ""), Candidate(0, "subject", 0, len(texts[1]), texts[1], "")]
    qv = shared_qa.embedder.encode_queries(["Ông ấy yêu cầu đơn vị làm gì?"])[0]
    followup = answerer.score("Ông ấy yêu cầu đơn vị làm gì?", qv, cands, ("Đại tá An? Ông ấy yêu cầu gì?", qv), lang="vi")
    assert {s.candidate.article_id for s in followup if s.on_subject} == {"subject"}
    alone = answerer.score("Ông ấy yêu cầu đơn vị làm gì?", qv, cands, lang="vi")
    assert not any(s.on_subject for s in alone)  # a question on its own has no subject to prefer
    plain = scored(0.90)
    assert replace(scored(0.88), on_subject=True).score > plain.score > replace(scored(0.86), on_subject=True).score


def test_a_follow_up_is_measured_with_its_subject(shared_qa):
    lexical = shared_qa.index().lexical
    ranked, retrieval = [scored(0.9)], Retrieval([], 0.1)
    alone = gate_features("Ông ấy yêu cầu gì?", "vi", ranked, retrieval, lexical)
    subject = "Sư đoàn 12 tổng kết công tác huấn luyện? Ông ấy yêu cầu gì?"
    with_subject = gate_features("Ông ấy yêu cầu gì?", "vi", ranked, retrieval, lexical, subject)
    assert alone["has_names"] == 0.0 and with_subject["has_names"] == 1.0
    assert with_subject["asks_name"] == alone["asks_name"] == 0.0  # the kind asked is the message's


def test_the_service_holds_an_unnamed_pronoun_to_the_rule_only_without_a_conversation(shared_qa, tmp_path):
    always = NewsQA(shared_qa.settings.with_(answer_gate=str(gate_file(tmp_path, 50.0))), embedder=shared_qa.embedder)
    question = "Ông ấy yêu cầu gì?"
    alone = always.ask(question)
    assert alone.gate.probability > 0.99 and not alone.found  # the fixed rule did not pass
    assert always.ask(question, history=["Đại tá Nguyễn Văn An chủ trì hội nghị gì?"]).found


def test_sentence_embeddings_are_cached_by_text_and_evicted_oldest_first():
    fake = FakeEmbedder()
    cache = SentenceCache(size=2)
    first = cache.get_many(fake, ["một", "hai"])
    assert fake.encoded == 2 and np.allclose(first, fake.encode_documents(["một", "hai"]))
    fake.encoded = 0
    cache.get_many(fake, ["hai", "một", "hai"])
    assert fake.encoded == 0
    cache.get_many(fake, ["ba"])  # evicts "một", the least recently used
    assert fake.encoded == 1
    cache.get_many(fake, ["hai"])
    assert fake.encoded == 1
    cache.get_many(fake, ["một"])
    assert fake.encoded == 2


def test_the_corpus_article_texts_are_what_the_answers_quote(shared_qa):
    """Guards the premise of the tests above: the index holds the fake corpus as written."""
    stored = shared_qa.index().db.articles([HOA_SEN, METRO])
    assert stored[METRO].text == ARTICLES[METRO][1]
    assert "40 tấn" in stored[HOA_SEN].text


def test_phrase_cover_counts_the_questions_phrases_not_its_scattered_words(shared_qa):
    lexical = shared_qa.index().lexical
    v = np.array([1.0, 0.0], np.float32)

    def features(text: str, question: str = "Nhà máy sấy vải thiều công suất bao nhiêu?") -> dict[str, float]:
        ranked = [ScoredSentence(Candidate(0, "a", 0, len(text), text, ""), 0.9, 0.5, v)]
        return gate_features(question, "vi", ranked, Retrieval([], 0.1), lexical)

    phrase = features("Nhà máy sấy vải thiều có công suất 40 tấn mỗi ngày.")
    scattered = features("Vải của nhà thiều sấy máy, công nhân suất.")  # the same words, no phrase of it
    # (the question's own pairs that span the asked slot, "suất_bao", cannot be in any answer)
    assert phrase["phrase_cover"] > 0.25 > 0.1 > scattered["phrase_cover"]
    assert abs(phrase["passage_overlap"] - scattered["passage_overlap"]) < 0.2  # words alone barely differ
    unaccented = features("Nhà máy sấy vải thiều có công suất 40 tấn.", "nha may say vai thieu cong suat bao nhieu")
    assert unaccented["phrase_cover"] > 0.25  # folded phrases match accented text
    assert features("Nhà máy lớn.", "Vì sao?")["phrase_cover"] == 0.0  # "vì_sao" is not in the text
    one_word = features("Nhà máy sấy vải thiều.", "Vải?")
    assert one_word["phrase_cover"] == one_word["passage_overlap"] > 0  # no pair: its words' cover stands in
    # A follow-up's query holds two questions: no pair across them ("nhiêu_ông" is in no text).
    assert question_pairs("Nhà máy công suất bao nhiêu? Ông ấy nói gì?") == [
        "nhà_máy", "máy_công", "công_suất", "suất_bao", "bao_nhiêu", "ông_ấy", "ấy_nói", "nói_gì"]
    assert question_pairs("nha may? cong suat") == ["~nha_may", "~cong_suat"]
    assert question_pairs("") == [] and question_pairs("covid_19?") == []


# -- requests for news: the articles on the topic, not a quote --------------------------------


def test_a_news_request_lists_the_articles_on_its_topic_by_title(shared_qa):
    ans = shared_qa.ask("Tin tức về vải thiều sấy")
    assert ans.found and ans.answer.startswith(t("digest_intro", "vi"))
    lines = ans.answer.splitlines()[1:]
    cited = {c.n: c for c in ans.citations}
    assert {c.article_id for c in ans.citations} <= {HOA_SEN, HOA_SEN_COPY} and ans.citations
    for line in lines:  # each line: the article's title, its sentence most about the topic, its marker
        n = int(line.rsplit("[", 1)[1].rstrip("]"))
        assert line.startswith(cited[n].title + ": ") and "vải thiều" in line
    assert len(lines) == len(ans.citations)


def test_a_news_request_on_an_absent_topic_is_refused_and_a_question_still_quotes(shared_qa):
    assert not shared_qa.ask("Tin tức về giải cờ vua ở Budapest").found
    ans = shared_qa.ask(HOA_SEN_QUESTION)
    assert ans.found and not ans.answer.startswith(t("digest_intro", "vi"))


def test_a_news_request_naming_a_period_lists_the_topic_outside_it_and_says_so(shared_qa):
    # "tuần trước" became the date filter (no article of the fake corpus is that recent), not a topic word.
    ans = shared_qa.ask("Tin tức tuần trước về vải thiều sấy")
    assert ans.found and "tuần trước" in ans.notice
    assert ans.answer.startswith(t("digest_intro", "vi")) and ans.citations[0].article_id in {HOA_SEN, HOA_SEN_COPY}


def test_an_english_topic_is_matched_by_what_vietnamese_text_writes_of_it():
    from assistant.answering import vietnamese_words

    def known(word: str) -> bool:
        return word.lower() in {"donald", "trump"}

    assert vietnamese_words(["Colonel", "Lương", "Thanh", "Bình"], known) == ["Lương", "Thanh", "Bình"]
    assert vietnamese_words(["Donald", "Trump"], known) == ["Donald", "Trump"]
    assert vietnamese_words(["Division", "346"], known) == ["346"]
    assert vietnamese_words(["Hanoi"], known) == []


def test_a_news_request_in_a_conversation_stands_on_its_own(shared_qa):
    # Short and naming no one, it reads like a follow-up to the heuristic; its topic says what it is about.
    alone = shared_qa.ask("Tin tức về vải thiều sấy")
    later = shared_qa.ask(AskRequest("Tin tức về vải thiều sấy", history=("Sư đoàn 12 tổng kết công tác gì?",)))
    assert later.found and later.answer == alone.answer


def test_a_news_request_about_something_said_earlier_is_read_with_the_conversation(shared_qa):
    alone = shared_qa.ask("Tin tức về vụ đó")
    later = shared_qa.ask(AskRequest("Tin tức về vụ đó", history=("Đại tá Nguyễn Văn An chủ trì hội nghị gì?",)))
    assert alone.hits[0].article_id != SU_DOAN and later.hits[0].article_id == SU_DOAN


def test_the_period_a_news_request_names_is_no_topic_word_under_the_requests_own_dates(shared_qa):
    filters = SearchFilters(date_from="2000-01-01", date_to="2030-12-31")
    ans = shared_qa.ask(AskRequest("Tin tức tuần trước về vải thiều sấy", filters=filters))
    assert ans.found and ans.answer.startswith(t("digest_intro", "vi"))


def test_a_digest_line_is_one_bounded_line_and_copies_of_a_story_are_listed_once(shared_qa):
    hit = next(h for h in shared_qa.search("vải thiều sấy", k=5) if h.article_id == HOA_SEN)
    long_title = "Vải thiều\n" + "rất " * 100  # a title from the web: line breaks, any length
    copy = replace(hit, article_id=HOA_SEN_COPY, chunk_id=hit.chunk_id + 1000, title=long_title)
    idx = shared_qa.index()
    answerer = ExtractiveAnswerer(shared_qa.embedder, idx.lexical)
    listed = answerer.digest("vải thiều sấy", "vi", [copy, hit], idx.db.articles([HOA_SEN, HOA_SEN_COPY]))
    lines = listed.answer.splitlines()[1:]
    assert [c.article_id for c in listed.citations] == [HOA_SEN_COPY] and len(lines) == 1
    assert lines[0].startswith("Vải thiều rất") and len(lines[0].split(": ", 1)[0]) <= 152


def test_the_search_tab_says_a_query_is_too_long_instead_of_finding_nothing(shared_qa):
    from assistant.chat import search_markdown

    limit = shared_qa.settings.max_question_chars
    shown = search_markdown(shared_qa, "Sư đoàn " * limit, 5, "vi")
    assert shown == t("too_long", "vi", n=len(("Sư đoàn " * limit).strip()), limit=limit)
    assert "Sư đoàn" in search_markdown(shared_qa, "Sư đoàn 346", 5, "vi")
    # Measured as the search measures it: decomposed Vietnamese and runs of spaces are no longer than typed.
    import unicodedata

    fits = unicodedata.normalize("NFD", "Sư đoàn") + " " * limit + "346"
    assert len(fits) > limit and "Sư đoàn" in search_markdown(shared_qa, fits, 5, "vi")


def test_an_article_without_punctuation_gives_a_bounded_answer(fresh, fake_embedder):
    # The whole text was one "sentence", quoted whole: a 270,000-character answer over the API.
    words = "Đại tá Lương Thanh Bình yêu cầu đơn vị huấn luyện sẵn sàng chiến đấu bảo vệ biên giới".split()
    text = " ".join(words[i % len(words)] for i in range(30_000))
    (fresh.corpus_dir / "wall.md").write_text(f"---\ntitle: Bức tường chữ\n---\n{text}\n", encoding="utf-8")
    qa = NewsQA(fresh, embedder=fake_embedder)
    qa.build()
    answer = qa.ask(" ".join(words) + "?")
    assert answer.found and "wall" in [c.article_id for c in answer.citations]
    assert len(answer.answer) <= 4 * 1000 + 100 and all(len(c.text) <= 3 * 1000 + 800 for c in answer.citations)
