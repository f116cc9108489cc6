"""The default answerer: no LLM, it quotes the sentences of the retrieved articles that answer.

Candidate sentences come from each retrieved passage and the sentences just after it (a passage
often ends where the substance begins). The ones sharing most words with the question (IDF-weighted)
are shortlisted for the embedding model. News prose names a person once and then refers to them by
role ("the Deputy Head ... asked the unit to ..."), so each shortlisted sentence is scored both alone
and together with the sentence before it, by the embedding model, plus its word overlap.
Near-duplicates (a photo caption repeating the lead) are skipped. When the best sentence is not
relevant enough, the answer says so instead of guessing."""

from __future__ import annotations

import json
import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from assistant.errors import InputError
from assistant.messages import t
from assistant.qtype import Kind, anchor_runs, asked_kind, holds_kind, named_words
from assistant.records import Citation, Hit
from assistant.retrieval import Retrieval
from index.chunking import split_sentences
from index.corpus import Article
from index.embedder import Embedder
from index.lexical import LexicalIndex, analyze_query, is_unaccented
from index.textnorm import fold_diacritics

# How far past a passage's end a sentence may start and still be considered.
LOOKAHEAD_CHARS = 400
MAX_CANDIDATES = 48
# Embedding the sentences is nearly all of an answer's time (48 candidates and their windows: about a
# second on 2 cores at 35k articles), so only a shortlist by word overlap goes to the model.
# Measured with bench/answer_quality.py (300 ViMedAQA / 300 ViRe4MRC questions, answer recall):
# 8 → 74.3% / 30.3%, 6 → 74.3% / 30.2%, 5 → 73.7% / 29.1%; at 35k articles 8 → 6 took ask p50
# from 185 to 152 ms (news titles as questions, in process).
MAX_ENCODED = 6
# An English question shares almost no words with Vietnamese sentences, so word overlap cannot pick its
# shortlist (it falls back to the first passages' sentences) and more go to the model. XQuAD English tune
# questions at 34,955 articles, every question answered: best sentence from the gold article 60.7 -> 63.1%,
# gold cited 66.7 -> 71.4%, answer in text 59.5 -> 64.3% with 12 instead of 6, for English ask p50 in
# process 71-76 -> 110-114 ms (bench/answers.py's index; 9 gave 63.1 / 69.0 / 62.5).
MAX_ENCODED_CROSS_LINGUAL = 12
# The model is compute-bound here (~0.17 ms per token on 2 cores) and pads a batch to its longest text:
# batches of 4 length-sorted sentences waste little padding and few passes (ask p50 at 35k articles:
# 221 ms in one batch of 16, 195 ms by 8, 185 ms by 4, 246 ms by 2).
SENTENCE_BATCH = 4
HIT_PRIOR = 0.05  # overlap given up per rank of the passage a sentence comes from
# A sentence's score: its cosine to the question plus this much of its IDF-weighted word overlap.
OVERLAP_WEIGHT = 0.15
# ... plus this much when it holds what the question asks for (a new number for "bao nhiêu", a new name
# for "ai"): answer string in the reply on XQuAD's tune split at 5,000 articles, every question answered,
# Vietnamese 88.1 -> 88.7%, unaccented 84.5 -> 85.7%, English unchanged; 0.06 was no better.
KIND_WEIGHT = 0.03
# ... plus this much, in a follow-up, when it is from the conversation's subject (the article its retrieval
# ranks first): "ông ấy" / "he" say whom the message is about, yet a stranger's sentence holding "ông
# ấy yêu cầu" shares more words with it than the subject's "đồng chí Phó chủ nhiệm ... yêu cầu đơn vị"
# (bench/conversations.py at 5,085 articles: by 0.001). A sentence elsewhere that answers much better
# still wins (a "what about ..." follow-up may move on).
SUBJECT_WEIGHT = 0.03
# Relevance gates, measured on the demo corpus with answerable and unrelated questions
# (bench/calibrate_gate.py prints the distributions and the verdicts).
MIN_DENSE = 0.80
MIN_OVERLAP = 0.45
STRONG_DENSE = 0.88
MIN_GAP = 0.045
ANSWER_MARGIN = 0.04
DUPLICATE_COSINE = 0.92
# A request for news ("tin tức về giá xăng") is answered by the articles about its topic, each by its title
# and the passage's sentence most about it: the quote that best "answers" a topic mixes several stories (at
# 34,955 articles "tin tức về giá xăng" quoted an aluminium export beside a petrol price). An article is
# listed when its title and passage hold this share of the topic's IDF mass, and of its syllable pairs.
DIGEST_ARTICLES = 5
DIGEST_MIN_COVER = 0.75
DIGEST_MIN_PHRASES = 0.5
# A topic needs a word or a syllable pair in at most this share of the passages: "tin tức về năm" (28.7% of
# them at 34,955 articles) would list anything; "vàng" (3.9%), "bão" (0.7%) do not, nor "gia_vang" where
# "vang" without diacritics (vàng, vâng, vắng …) is common. In a small index (fewer than
# DIGEST_SMALL_DF / DIGEST_MAX_SHARE passages) every word is common, so a count stands in.
DIGEST_MAX_SHARE = 0.05
DIGEST_SMALL_DF = 20
LEAD_CHARS = 240
TITLE_CHARS = 150


@dataclass(frozen=True)
class Candidate:
    hit_index: int
    article_id: str
    start: int
    end: int
    text: str
    previous: str  # the sentence before it in the same article, or ""
    previous_start: int = -1  # where that sentence starts in the article (-1: none)

    @property
    def window(self) -> str:
        return f"{self.previous} {self.text}" if self.previous else self.text


@dataclass(frozen=True)
class ScoredSentence:
    candidate: Candidate
    dense: float
    overlap: float
    vector: np.ndarray
    # The sentence matched the question mainly through the one before it ("… Đại tá Lương Thanh Bình
    # phát biểu." then "Ông yêu cầu …"): that sentence often holds what was asked, so both are quoted.
    leans_on_previous: bool = False
    # Holds what the question asks for (a number for "bao nhiêu", a name for "ai"), beyond its words.
    kind_match: bool = False
    on_subject: bool = False  # a follow-up's sentence from the conversation's subject article

    @property
    def score(self) -> float:
        return (self.dense + OVERLAP_WEIGHT * self.overlap + KIND_WEIGHT * self.kind_match
                + SUBJECT_WEIGHT * self.on_subject)

    @property
    def with_previous(self) -> bool:
        return self.leans_on_previous and bool(self.candidate.previous)

    @property
    def quoted(self) -> tuple[int, str]:
        """(start in the article, text) of what an answer quotes for this sentence."""
        c = self.candidate
        return (c.previous_start, c.window) if self.with_previous else (c.start, c.text)

    @property
    def places(self) -> set[tuple[str, int]]:
        """(article, start) of every sentence the quote holds."""
        c = self.candidate
        return {(c.article_id, c.start)} | ({(c.article_id, c.previous_start)} if self.with_previous else set())


@dataclass(frozen=True)
class Gate:
    """The answer-or-refuse decision for one question: what it was measured on and its verdict."""

    features: dict[str, float]
    probability: float  # that quoting the best sentence answers the question (1.0/0.0 under the fixed rule)
    passed: bool
    best_article: str = ""


@dataclass(frozen=True)
class GateModel:
    """A logistic regression over the gate features, fit by `python bench/answers.py fit` on a
    split of the dev questions and saved with its provenance (assistant/answer_gate.json, the
    default; NEWSQA_ANSWER_GATE may name another). Serving needs no scikit-learn: the model is a
    standardized dot product."""

    names: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    threshold: float
    provenance: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> GateModel:
        try:
            model = cls(**json.loads(Path(path).read_text(encoding="utf-8")))
            sizes = {len(model.names), len(model.mean), len(model.scale), len(model.coef)}
            numbers = [*model.mean, *model.scale, *model.coef, model.intercept, model.threshold]
            if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in numbers):
                raise ValueError("weights must be finite numbers")
            if len(sizes) != 1 or not all(x > 0 for x in model.scale) or not 0 < model.threshold < 1:
                raise ValueError("inconsistent weights")
            unknown = set(model.names) - set(GATE_FEATURES)
            if unknown:
                # A feature the answerer does not measure would silently read as 0.
                raise ValueError(f"unknown features {sorted(unknown)}")
            return model
        except (OSError, ValueError, TypeError) as exc:
            raise InputError("answer_gate_invalid", path=path, error=exc) from exc

    def probability(self, features: dict[str, float]) -> float:
        z = self.intercept + sum(c * (features.get(n, 0.0) - m) / s
                                 for n, m, s, c in zip(self.names, self.mean, self.scale, self.coef))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


BUNDLED_GATE = Path(__file__).with_name("answer_gate.json")
_SENTENCE_END = re.compile(r"[?.!;\n]+")
_CROSS_LINGUAL = ("dense", "overlap", "article_margin", "gap")
GATE_FEATURES = (
    "dense", "overlap", "article_margin", "gap", "top_dense", "agreement", "confidence", "rank", "english",
    "unaccented", "asks_number", "number_match", "asks_name", "name_match", "passage_overlap", "has_names",
    "name_cover", "phrase_cover", *(f"{k}_en" for k in _CROSS_LINGUAL),
)


def load_gate(choice: str) -> GateModel | None:
    """The gate a setting names: None for the fixed rule, else the fitted model ("fitted": the one
    shipped with the package, or a .json file)."""
    key = choice.strip().lower()
    if key == "rule":
        return None
    if key in ("", "fitted"):
        return GateModel.load(BUNDLED_GATE)
    if not key.endswith(".json"):
        raise InputError("answer_gate_choice", value=choice)
    return GateModel.load(Path(choice.strip()).expanduser())


def _clip(text: str, limit: int) -> str:
    """One line of at most about `limit` characters (a title may hold line breaks)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def vietnamese_words(run: list[str], known) -> list[str]:
    """What Vietnamese text writes as an English question's run of anchors does: a Vietnamese name from
    its first word with diacritics on ("Colonel Lương Thanh Bình" -> Lương Thanh Bình), a name every word
    of which the index holds ("Donald Trump"), else its numbers ("Division 346" -> 346). `known(word)`:
    whether the index holds the word."""
    marked = [i for i, w in enumerate(run) if fold_diacritics(w) != w]
    if marked:
        return run[marked[0]:]
    return run if all(known(w) for w in run) else [w for w in run if any(ch.isdigit() for ch in w)]


def question_pairs(text: str) -> list[str]:
    """A question's syllable pairs as the lexical index writes them; each sentence of a follow-up's
    query ("<subject>? <message>?") on its own, as a pair across two questions is in no text."""
    pairs: list[str] = []
    for part in _SENTENCE_END.split(text):
        pairs += analyze_query(part)[len(analyze_query(part, bigrams=False)):]
    return list(dict.fromkeys(pairs))


def gate_features(question: str, lang: str, ranked: list[ScoredSentence], retrieval: Retrieval,
                  lexical: LexicalIndex, subject: str = "") -> dict[str, float]:
    """What the decision sees, measured per question. None of it depends on how many articles the
    index holds the way a raw score gap does: margins compare the best answer with its rivals.
    `subject`: a follow-up's retrieval query (the conversation's subject with the message), whose
    words and names count as the question's; the kind asked is the message's own."""
    best = ranked[0]
    hits = retrieval.hits
    words = subject or question
    tokens = list(dict.fromkeys(analyze_query(words, bigrams=False)))
    pairs = question_pairs(words)
    hit = hits[best.candidate.hit_index] if best.candidate.hit_index < len(hits) else None
    around = f"{hit.title}\n{hit.text}\n{best.candidate.window}" if hit else best.candidate.window
    passage_overlap = lexical.coverage(tokens, around) if tokens else 0.0
    # Names the index knows: "Division" or "Colonel" in an English question never occur in Vietnamese text.
    names = [tok for tok in analyze_query(" ".join(named_words(words)), bigrams=False) if lexical.vocab.df(tok) > 0]
    kind = asked_kind(question)
    rivals = [s.score for s in ranked if s.candidate.article_id != best.candidate.article_id]
    english = float(lang == "en")
    features = {
        "dense": best.dense,
        "overlap": best.overlap,
        "article_margin": best.score - (rivals[0] if rivals else best.score - 0.1),
        "gap": retrieval.dense_gap,
        "top_dense": retrieval.top_dense,
        "agreement": retrieval.agreement,
        "confidence": retrieval.confidence,
        "rank": float(min(best.candidate.hit_index, 10)),
        "english": english,
        "unaccented": float(lang != "en" and is_unaccented(question)),
        "asks_number": float(kind is Kind.NUMBER),
        "number_match": float(kind is Kind.NUMBER and best.kind_match),
        "asks_name": float(kind is Kind.NAME),
        "name_match": float(kind is Kind.NAME and best.kind_match),
        # The passage the answer comes from, not just its sentence: at 35k articles some sentence always
        # resembles an unanswerable question, rarely one in a passage about what the question names.
        "passage_overlap": passage_overlap,
        "has_names": float(bool(names)),
        "name_cover": lexical.coverage(names, around) if names else 0.0,
        # The question's syllable pairs in the passage: an unanswerable question's words are found
        # one by one in some passage at 35k articles, its phrases much less often.
        # A one-word question has no pair: its words' cover stands in (0 would read as "no phrase found").
        "phrase_cover": lexical.coverage(pairs, around, bigrams=True) if pairs else passage_overlap,
    }
    # Cross-lingual similarities run lower and share no words: the same evidence weighs differently.
    features.update({f"{k}_en": features[k] * english for k in _CROSS_LINGUAL})
    return features


@dataclass
class Extract:
    answer: str
    citations: list[Citation]
    found: bool
    best: ScoredSentence | None
    gate: Gate | None = None


class SentenceCache:
    """LRU of sentence embeddings keyed by the text itself (so a rebuilt index can never get a
    stale vector): popular articles get asked about again and again."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._data: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, embedder: Embedder, texts: list[str]) -> np.ndarray:
        # Several web requests share one cache: the OrderedDict is only touched under the lock, and
        # the model runs outside it (the embedder serializes its own calls).
        with self._lock:
            known = {t: self._data[t] for t in texts if t in self._data}
        todo = list(dict.fromkeys(t for t in texts if t not in known))
        if todo:
            known.update(zip(todo, embedder.encode_documents(todo, batch_size=SENTENCE_BATCH)))
        with self._lock:
            for text in texts:
                self._data[text] = known[text]
                self._data.move_to_end(text)
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return np.vstack([known[t] for t in texts])


class ExtractiveAnswerer:
    def __init__(self, embedder: Embedder, lexical: LexicalIndex, max_sentences: int = 3,
                 cache: SentenceCache | None = None, gate: GateModel | None = None) -> None:
        self.embedder = embedder
        self.lexical = lexical
        self.max_sentences = max_sentences
        self.cache = cache if cache is not None else SentenceCache()
        self.gate_model = gate

    def candidates(self, hits: list[Hit], articles: dict[str, Article]) -> list[Candidate]:
        seen: set[tuple[str, int]] = set()
        out: list[Candidate] = []
        for hi, hit in enumerate(hits):
            art = articles.get(hit.article_id)
            if art is None:
                continue
            spans = split_sentences(art.text)
            for j, (s, e) in enumerate(spans):
                if e <= hit.start or s >= hit.end + LOOKAHEAD_CHARS or (art.id, s) in seen:
                    continue
                seen.add((art.id, s))
                prev = art.text[spans[j - 1][0] : spans[j - 1][1]].strip() if j else ""
                out.append(Candidate(hi, art.id, s, e, art.text[s:e].strip(), prev, spans[j - 1][0] if j else -1))
        return out[:MAX_CANDIDATES]

    @staticmethod
    def shortlist(cands: list[Candidate], overlaps: list[float], limit: int = MAX_ENCODED) -> list[int]:
        """Positions of the candidates worth the model, in document order: the best by word overlap
        with the question, the passages retrieved first breaking ties (for a question in another
        language, which shares few words, that keeps the top passages' sentences)."""
        if len(cands) <= limit:
            return list(range(len(cands)))
        ranked = sorted(range(len(cands)), key=lambda i: -(overlaps[i] - HIT_PRIOR * cands[i].hit_index))
        return sorted(ranked[:limit])

    def score(self, question: str, question_vector: np.ndarray, cands: list[Candidate],
              followup: tuple[str, np.ndarray] | None = None, *, lang: str) -> list[ScoredSentence]:
        """`followup` (a follow-up's retrieval query, with the conversation's subject, and its
        vector): the message says what is asked, the query about whom; both count half."""
        if not cands:
            return []
        # A follow-up's passages come first from the conversation's subject: the first one's article.
        subject = next((c.article_id for c in cands if c.hit_index == 0), None) if followup else None
        queries = [(question, question_vector)] + ([followup] if followup else [])
        token_sets = [analyze_query(q, bigrams=False) for q, _ in queries]
        overlaps = [float(np.mean([self.lexical.coverage(t, c.window) for t in token_sets])) for c in cands]
        keep = self.shortlist(cands, overlaps, MAX_ENCODED_CROSS_LINGUAL if lang == "en" else MAX_ENCODED)
        cands, overlaps = [cands[i] for i in keep], [overlaps[i] for i in keep]
        # One call of the model for both lists: a second call cost another pass's fixed overhead.
        both = self.cache.get_many(self.embedder, [c.text for c in cands] + [c.window for c in cands])
        alone, windows = both[: len(cands)], both[len(cands) :]
        dense = np.mean([np.maximum(alone @ v, windows @ v) for _, v in queries], axis=0)
        # A sentence that matches the question better with the sentence before it than alone is quoted
        # with it: on XQuAD's Vietnamese tune split at 5,000 articles (bench/answers.py) the answer string
        # was then in the reply for 139 of 168 questions instead of 125, for 17% more text.
        leans = (windows @ question_vector) > (alone @ question_vector)
        kind = asked_kind(question)  # what the message asks; the subject's names are not news to it
        known = " ".join(q for q, _ in queries)
        scored = [ScoredSentence(c, float(d), o, v, bool(w), holds_kind(kind, known, c.text), c.article_id == subject)
                  for c, d, o, v, w in zip(cands, dense, overlaps, alone, leans)]
        return sorted(scored, key=lambda s: -s.score)

    @staticmethod
    def relevant(best: ScoredSentence, lang: str, dense_gap: float) -> bool:
        if best.dense < MIN_DENSE:
            return False
        if best.overlap >= MIN_OVERLAP:
            return True
        # Paraphrases and other languages share few words (names aside): then the best passage
        # must stand out from the rest, and in Vietnamese the match must be strong as well.
        if dense_gap < MIN_GAP:
            return False
        return lang != "vi" or best.dense >= STRONG_DENSE

    @staticmethod
    def pick(ranked: list[ScoredSentence], limit: int) -> list[ScoredSentence]:
        best = ranked[0].score
        chosen: list[ScoredSentence] = []
        quoted: set[tuple[str, int]] = set()  # (article, start) of every sentence quoted so far
        used = 0
        for s in ranked:
            if len(chosen) >= limit or used > limit or s.score < best - ANSWER_MARGIN:
                break
            if any(float(s.vector @ c.vector) >= DUPLICATE_COSINE for c in chosen):
                continue
            if s.places & quoted:
                # Already quoted as another sentence's predecessor (or its own): quote once, alone.
                s = replace(s, leans_on_previous=False)
                if s.places & quoted:
                    continue
            # At most `limit` sentences answer; with the predecessors quoted for them, one more.
            if chosen and used + len(s.places) > limit + 1:
                continue
            chosen.append(s)
            quoted |= s.places
            used += len(s.places)
        return chosen

    def decide(self, question: str, lang: str, ranked: list[ScoredSentence], retrieval: Retrieval,
               subject: str = "", unresolved: bool = False) -> Gate:
        """`subject`: a follow-up's retrieval query (see gate_features). `unresolved`: the question
        points at someone it does not name ("what did he ask?") and no conversation says whom; the
        gate was fit on questions that name their subject, so the fixed rule's evidence is needed too."""
        features = gate_features(question, lang, ranked, retrieval, self.lexical, subject)
        article = ranked[0].candidate.article_id
        rule = self.relevant(ranked[0], lang, retrieval.dense_gap)
        if self.gate_model is None:
            return Gate(features, float(rule), rule, article)
        p = self.gate_model.probability(features)
        return Gate(features, p, p >= self.gate_model.threshold and (rule or not unresolved), article)

    def _known(self, word: str) -> bool:
        return all(self.lexical.vocab.df(tok) > 0 for tok in analyze_query(word, bigrams=False))

    def digest(self, topic: str, lang: str, hits: list[Hit], articles: dict[str, Article]) -> Extract | None:
        """The articles about a news request's topic, or None when no retrieved article holds it word for
        word (or the topic has no rare enough word, or an English one no name or number Vietnamese text
        writes as it does): then the quoting answer and its gate decide."""
        if lang == "en":
            runs = [" ".join(vietnamese_words(run, self._known)) for run in anchor_runs(topic)]
            tokens = analyze_query(" ".join(runs), bigrams=False)
            pairs = list(dict.fromkeys(p for run in runs for p in question_pairs(run)))
        else:
            tokens, pairs = analyze_query(topic, bigrams=False), question_pairs(topic)
        rare = max(DIGEST_MAX_SHARE * self.lexical.n_docs, DIGEST_SMALL_DF)
        if not any(self.lexical.vocab.df(tok) <= rare for tok in tokens + pairs):
            return None
        citations: list[Citation] = []
        lines: list[str] = []
        seen: set[str] = set()
        leads: set[str] = set()
        for hit in hits:
            if len(citations) >= DIGEST_ARTICLES:
                break
            if hit.article_id in seen or hit.article_id not in articles:
                continue
            seen.add(hit.article_id)
            about = f"{hit.title}\n{hit.text}"
            if self.lexical.coverage(tokens, about) < DIGEST_MIN_COVER or (
                    pairs and self.lexical.coverage(pairs, about, bigrams=True) < DIGEST_MIN_PHRASES):
                continue
            # The passage's sentence most about the topic (the first of equals) says why it is listed.
            sentences = [hit.text[a:b] for a, b in split_sentences(hit.text)] or [hit.text]
            lead = _clip(max(sentences, key=lambda x: self.lexical.coverage(tokens, x)), LEAD_CHARS)
            title = _clip(hit.title, TITLE_CHARS)
            if lead in leads:  # another copy of a story already listed
                continue
            leads.add(lead)
            citations.append(hit.cite(len(citations) + 1))
            lines.append(f"{title}: {lead} [{len(citations)}]" if title else f"{lead} [{len(citations)}]")
        if not citations:
            # Nothing retrieved holds the topic word for word: the quoting answer and its gate decide.
            return None
        return Extract(t("digest_intro", lang) + "\n" + "\n".join(lines), citations, True, None)

    def answer(self, question: str, question_vector: np.ndarray, lang: str, hits: list[Hit],
               articles: dict[str, Article], retrieval: Retrieval | None = None,
               followup: tuple[str, np.ndarray] | None = None, unresolved: bool = False,
               topic: str | None = None) -> Extract:
        """`topic`: the message is a request for news on it (see assistant.qtype.news_topic)."""
        listed = self.digest(topic, lang, hits, articles) if topic and not unresolved else None
        if listed is not None:
            return listed
        ranked = self.score(question, question_vector, self.candidates(hits, articles), followup, lang=lang)
        if not ranked:
            return Extract(t("not_found", lang), [], False, None)
        gate = self.decide(question, lang, ranked, retrieval or Retrieval(hits, 1.0),
                           followup[0] if followup else "", unresolved)
        if not gate.passed:
            return Extract(t("not_found", lang), [], False, ranked[0], gate)
        best = ranked[0]
        # A follow-up is about the conversation's subject: its answer quotes the article the best
        # sentence comes from, not a sentence elsewhere that merely matches "what did he ask" (at 35k
        # articles and on the bundled corpus that was a stranger's quote).
        pool = [s for s in ranked if s.candidate.article_id == best.candidate.article_id] if followup else ranked
        chosen = self.pick(pool, self.max_sentences)
        citations: list[Citation] = []
        number: dict[int, int] = {}
        lines = []
        for s in chosen:
            hi = s.candidate.hit_index
            if hi not in number:
                number[hi] = len(number) + 1
                hit = hits[hi]
                art = articles[hit.article_id]
                # The cited passage is the retrieved one, widened to hold every sentence quoted from it.
                spans = [(c.quoted[0], c.candidate.end) for c in chosen if c.candidate.hit_index == hi]
                lo = min([hit.start] + [a for a, _ in spans])
                hi_end = max([hit.end] + [b for _, b in spans])
                citations.append(hit.cite(number[hi], art.text[lo:hi_end].strip(), round(s.score, 4)))
            lines.append(f"{s.quoted[1]} [{number[hi]}]")
        text = t("answer_intro", lang) + "\n" + "\n".join(lines) if lang == "en" else "\n".join(lines)
        return Extract(text, citations, True, best, gate)
