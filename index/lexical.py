"""Lexical retrieval with bm25s over a Vietnamese analysis.

Analysis: NFC, lowercase, syllable tokens (Vietnamese words are space-separated syllables, no
stemming) plus syllable bigrams, which stand in for word segmentation ("bệnh thận" is one word;
measured: +0.3 to +0.5 nDCG@10 for BM25 alone and +0.4 to +0.7 fused on the ViRE dev sets).
Every token is indexed twice: as written, and diacritic-folded with a `~` prefix, so that an
unaccented query ("dai ta luong thanh binh") matches accented text while an accented query keeps
its precision."""

from __future__ import annotations

import json
import logging
import math
from array import array
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from index.accents import AccentRestorer
from index.bm25build import column_pointers, count_documents, lean_bm25_class
from index.errors import IndexStateError
from index.postings import PostingsScorer
from index.textnorm import fold_diacritics, words
from index.vocabulary import Vocabulary

log = logging.getLogger(__name__)

FOLD = "~"


def _with_bigrams(toks: list[str]) -> list[str]:
    return toks + [f"{a}_{b}" for a, b in zip(toks, toks[1:])]


def analyze_document(text: str, bigrams: bool = True) -> list[str]:
    toks = words(text)
    toks = _with_bigrams(toks) if bigrams else toks
    return toks + [FOLD + fold_diacritics(t) for t in toks]


def is_unaccented(text: str) -> bool:
    return fold_diacritics(text) == text


def analyze_query(text: str, bigrams: bool = True) -> list[str]:
    toks = words(text)
    unaccented = bool(toks) and is_unaccented(" ".join(toks))
    toks = _with_bigrams(toks) if bigrams else toks
    return [FOLD + t for t in toks] if unaccented else toks


def _bm25s():
    import bm25s

    # bm25s sets its own logger to DEBUG on import, which would print into CLI output.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


class LexicalIndex:
    DIRNAME = "lexical"
    BM25S_VOCAB = "vocab.index.json"  # bm25s's own vocabulary file: indexes built before the trie
    DF_POINTERS = "df_pointers.npy"  # a terms-only index (Milvus backend): document frequencies

    def __init__(self, bm25, ids: np.ndarray, vocab: Vocabulary, postings: PostingsScorer | None = None) -> None:
        self.bm25 = bm25  # None in a terms-only index: the passages' BM25 lives elsewhere (Milvus)
        self.postings = postings  # a saved index's scorer (index/postings.py); None: bm25s scores in memory
        self.ids = ids  # position in the BM25 corpus -> chunk id
        self.vocab = vocab
        self.n_docs = int(bm25.scores.get("num_docs") or len(ids)) if bm25 is not None else len(ids)
        self.restorer = AccentRestorer(vocab)

    @staticmethod
    def _count(chunk_ids: list[int], texts: Iterable[str], seed: Vocabulary | None = None):
        """Each text is analysed, counted and let go (index/bm25build.py): as lists of token strings the
        35k-article corpus (110M tokens with bigrams and folded forms) took ~7 GB before indexing, as
        token-id arrays handed to bm25s ~3 GB."""
        _bm25s()  # quiet its logger
        vocab: dict[str, int] = {"": 0}  # bm25s's empty token, which scores documents without tokens
        if seed is not None:
            vocab = seed.as_dict()  # the same columns as before; new tokens are appended
            vocab.setdefault("", len(vocab))
        docs = (array("i", [vocab.setdefault(t, len(vocab)) for t in analyze_document(x)]) for x in texts)
        counted = count_documents(docs)
        if counted.n_docs != len(chunk_ids):
            raise ValueError(f"{counted.n_docs} texts for {len(chunk_ids)} passages")
        if counted.n_docs == 0:
            counted = count_documents([array("i")])
        indptr = column_pointers(counted, len(vocab))
        # The trie replaces the dict before the matrix is allocated: both at once set the build's peak.
        words = Vocabulary.from_dict(vocab, indptr, FOLD)
        return counted, indptr, words

    @classmethod
    def build(cls, chunk_ids: list[int], texts: Iterable[str]) -> LexicalIndex:
        counted, indptr, words = cls._count(chunk_ids, texts)
        bm25 = lean_bm25_class()()
        bm25.index_counts(counted, indptr)
        return cls(bm25, np.asarray(chunk_ids, dtype=np.int64), words)

    @classmethod
    def build_terms(cls, chunk_ids: list[int], texts: Iterable[str], seed: Vocabulary | None = None):
        """A terms-only index (vocabulary and document frequencies) and every passage's BM25
        term-frequency weights as a CSR matrix (row = position in `chunk_ids`, column = token).
        `seed`: a vocabulary whose columns are kept (rows written earlier with them stay valid)."""
        counted, indptr, words = cls._count(chunk_ids, texts, seed)
        weights = lean_bm25_class()().tf_part(counted, indptr)
        index = cls(None, np.asarray(chunk_ids, dtype=np.int64), words)
        index._df_pointers = indptr
        return index, weights[: len(chunk_ids)]

    def term_weight(self, token: str) -> tuple[int, float] | None:
        """(BM25 column, idf) of a token the index knows."""
        column = self.vocab.column(token)
        return None if column is None else (column, self.idf(token))

    def save(self, folder: Path) -> list[str]:
        target = Path(folder) / self.DIRNAME
        target.mkdir(exist_ok=True)
        if self.bm25 is None:
            self.vocab.save(target)
            np.save(target / self.DF_POINTERS, self._df_pointers)
            np.save(target / "chunk_ids.npy", self.ids)
            return sorted(str(p.relative_to(folder)) for p in target.iterdir() if p.is_file())
        self.bm25.vocab_dict = {}
        self.bm25.save(str(target), show_progress=False)
        self.bm25.vocab_dict = None
        (target / self.BM25S_VOCAB).unlink(missing_ok=True)
        self.vocab.save(target)
        np.save(target / "chunk_ids.npy", self.ids)
        return sorted(str(p.relative_to(folder)) for p in target.iterdir() if p.is_file())

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        target = Path(folder) / cls.DIRNAME
        trie = Vocabulary.exists(target)
        if (target / cls.DF_POINTERS).is_file():
            return cls._load_terms(target)
        try:
            bm25 = _bm25s().BM25.load(str(target), mmap=True, load_vocab=not trie, show_progress=False)
            ids = np.load(target / "chunk_ids.npy")
            indptr = bm25.scores["indptr"]
            if trie:
                vocab = Vocabulary.load(target, indptr)
            else:
                log.warning("%s has no vocabulary trie (built by an older version): converted in memory at "
                            "every start; `newsqa index update --full` stores it (faster start, less memory)",
                            target)
                vocab = Vocabulary.from_dict(bm25.vocab_dict, indptr, FOLD)
                bm25.vocab_dict = None
            postings = None
            if bm25.nonoccurrence_array is None:
                postings = PostingsScorer(target, indptr, bm25.scores["num_docs"], bm25.dtype)
        except (OSError, ValueError, RuntimeError, json.JSONDecodeError) as exc:  # marisa: RuntimeError
            raise IndexStateError("index_lexical_corrupt", target=target, error=exc) from exc
        return cls(bm25, ids, vocab, postings)

    @classmethod
    def _load_terms(cls, target: Path) -> LexicalIndex:
        try:
            indptr = np.load(target / cls.DF_POINTERS, mmap_mode="r")
            ids = np.load(target / "chunk_ids.npy", mmap_mode="r")
            vocab = Vocabulary.load(target, indptr)
        except (OSError, ValueError, RuntimeError) as exc:
            raise IndexStateError("index_lexical_corrupt", target=target, error=exc) from exc
        return cls(None, ids, vocab)

    def __len__(self) -> int:
        return int(len(self.ids))

    def idf(self, token: str) -> float:
        """BM25's idf; a token never seen is as rare as it gets."""
        df = self.vocab.df(token)
        return math.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))

    def coverage(self, query_tokens: list[str], text: str, bigrams: bool = False) -> float:
        """Share of the query's IDF mass whose tokens occur in `text` (0..1): how much of what the
        question asks about a passage or sentence mentions, the rare words weighing most. With
        `bigrams`, the text's syllable pairs count too (a query of pairs: its phrases)."""
        q = set(query_tokens)
        total = sum(self.idf(t) for t in q)
        if total <= 0:
            return 0.0
        present = set(analyze_document(text, bigrams=bigrams))
        return sum(self.idf(t) for t in q if t in present) / total

    def top(self, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(chunk_ids, scores) of the k best positive entries of a `scores` array, best first."""
        if len(scores) == 0 or not scores.any():
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        top = top[scores[top] > 0]
        return self.ids[top], scores[top].astype(np.float32)

    def scores(self, query_tokens: list[str], allowed: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every chunk (position order of `ids`); 0 outside `allowed`.
        Each distinct token counts once: bm25s scores a token as often as it is given, so a question
        repeating one word 100k times would cost 100k passes over its postings."""
        known = self.vocab.columns(dict.fromkeys(query_tokens))
        if not known:
            return np.zeros(len(self.ids), np.float32)
        if self.postings is not None:
            scores = self.postings.scores(known).astype(np.float32, copy=False)
        else:
            scores = np.asarray(self.bm25.get_scores_from_ids(known), dtype=np.float32)
        if allowed is not None:
            scores = np.where(np.isin(self.ids, allowed), scores, 0.0).astype(np.float32)
        return scores
