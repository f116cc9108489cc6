"""The lexical index's vocabulary on disk: token -> BM25 column in a memory-mapped marisa trie.

At 35k articles the vocabulary (syllables, syllable bigrams and their diacritic-folded forms) holds
millions of tokens. As a Python dict of strings, as bm25s keeps it, that was ~1 GB of the serving
process and seconds of JSON parsing at every start; a marisa trie of the same tokens is a few tens of
MB on disk, mapped rather than read, so a process only pages in the parts its questions touch.

Beside it, the accent table (folded syllable -> the corpus's accented syllables that fold to it, most
frequent first), which the accent restorer reads; it is computed while the vocabulary is a dict
anyway, so a serving process never walks the millions of tokens."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from index.textnorm import fold_diacritics

MAX_VARIANTS = 8
_SEP = "\t"


def _marisa():
    import marisa_trie

    return marisa_trie


class Vocabulary:
    TRIE = "vocab.marisa"
    COLUMNS = "vocab_columns.npy"
    ACCENTS = "accents.marisa"

    def __init__(self, trie, columns: np.ndarray, accents, indptr: np.ndarray) -> None:
        self._trie = trie
        self._columns = columns  # trie key id -> BM25 column
        self._accents = accents
        self._indptr = indptr  # the BM25 matrix's column pointers: a token's document frequency

    @classmethod
    def from_dict(cls, vocab: dict[str, int], indptr: np.ndarray, fold_prefix: str) -> Vocabulary:
        marisa = _marisa()
        trie = marisa.Trie(vocab.keys())
        columns = np.empty(len(trie), dtype=np.int32)
        for token, column in vocab.items():
            columns[trie[token]] = column
        df = np.diff(np.asarray(indptr))
        accents = marisa.BytesTrie(
            (folded, _SEP.join(tokens).encode())
            for folded, tokens in _accent_table(vocab, df, fold_prefix).items())
        return cls(trie, columns, accents, indptr)

    def save(self, folder: Path) -> list[str]:
        self._trie.save(str(folder / self.TRIE))
        self._accents.save(str(folder / self.ACCENTS))
        np.save(folder / self.COLUMNS, self._columns)
        return [self.TRIE, self.ACCENTS, self.COLUMNS]

    @classmethod
    def exists(cls, folder: Path) -> bool:
        return all((folder / name).is_file() for name in (cls.TRIE, cls.COLUMNS, cls.ACCENTS))

    @classmethod
    def load(cls, folder: Path, indptr: np.ndarray) -> Vocabulary:
        marisa = _marisa()
        trie, accents = marisa.Trie(), marisa.BytesTrie()
        trie.mmap(str(folder / cls.TRIE))
        accents.mmap(str(folder / cls.ACCENTS))
        columns = np.load(folder / cls.COLUMNS, mmap_mode="r")
        if len(columns) != len(trie):
            raise ValueError(f"{cls.COLUMNS} holds {len(columns)} entries for {len(trie)} tokens")
        return cls(trie, columns, accents, indptr)

    def __len__(self) -> int:
        return len(self._trie)

    def as_dict(self) -> dict[str, int]:
        """token -> column for every token (a build that must keep these columns starts from it)."""
        return {token: int(self._columns[key]) for token, key in self._trie.items()}

    def __contains__(self, token: str) -> bool:
        return token in self._trie

    def column(self, token: str) -> int | None:
        key = self._trie.get(token)
        return None if key is None else int(self._columns[key])

    def columns(self, tokens: Iterable[str]) -> list[int]:
        """The BM25 columns of the tokens the vocabulary knows, in the given order."""
        found = (self.column(t) for t in tokens)
        return [c for c in found if c is not None]

    def df(self, token: str) -> int:
        """How many documents hold `token` (0 for a token never seen)."""
        column = self.column(token)
        if column is None or column + 1 >= len(self._indptr):
            return 0
        return int(self._indptr[column + 1] - self._indptr[column])

    def accent_variants(self, folded: str) -> list[str]:
        found = self._accents.get(folded)
        return found[0].decode().split(_SEP) if found else []


def _accent_table(vocab: dict[str, int], df: np.ndarray, fold_prefix: str) -> dict[str, list[str]]:
    def count(token: str) -> int:
        j = vocab[token]
        return int(df[j]) if j < len(df) else 0

    found: dict[str, list[str]] = {}
    for token in vocab:
        # A token kept from an earlier version of the vocabulary (count 0) is no longer in the corpus.
        if token and "_" not in token and not token.startswith(fold_prefix) and count(token) > 0:
            found.setdefault(fold_diacritics(token), []).append(token)
    # Ties broken by the token itself, not by first appearance: every build of the same corpus (a fresh
    # one or one that kept an earlier vocabulary's columns) restores a question the same way.
    return {k: sorted(v, key=lambda t: (-count(t), t))[:MAX_VARIANTS] for k, v in found.items()}
