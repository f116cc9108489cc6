"""Diacritic restoration for unaccented Vietnamese questions, learnt from the index's own words.

The embedding model barely understands Vietnamese typed without diacritics ("dai ta luong thanh
binh yeu cau gi"), while BM25 copes through its folded tokens. So before a question is embedded,
each unaccented syllable is replaced by the accented syllable of the corpus that folds to it, the
sequence chosen by Viterbi over the corpus's syllable-bigram document frequencies (the BM25
vocabulary already holds both, so nothing extra is stored or built). Syllables the corpus does not
know stay as typed."""

from __future__ import annotations

import math
import re
import threading

import numpy as np

from index.textnorm import fold_diacritics

_TOKEN = re.compile(r"\w+", re.UNICODE)
MAX_VARIANTS = 8
# A bigram seen in the corpus is strong evidence for a reading; a frequent syllable weak evidence.
BIGRAM_WEIGHT = 2.0


class AccentRestorer:
    def __init__(self, vocab: dict[str, int], df: np.ndarray, fold_prefix: str) -> None:
        self.vocab = vocab
        self.df = df
        self.fold_prefix = fold_prefix
        self._variants: dict[str, list[str]] | None = None
        self._lock = threading.Lock()

    def _count(self, token: str) -> int:
        j = self.vocab.get(token)
        return int(self.df[j]) if j is not None and j < len(self.df) else 0

    def variants(self) -> dict[str, list[str]]:
        """folded syllable -> the corpus's syllables that fold to it, most frequent first (built once)."""
        with self._lock:
            if self._variants is None:
                found: dict[str, list[str]] = {}
                for token in self.vocab:
                    if "_" in token or token.startswith(self.fold_prefix):
                        continue
                    found.setdefault(fold_diacritics(token), []).append(token)
                self._variants = {
                    k: sorted(v, key=lambda t: -self._count(t))[:MAX_VARIANTS] for k, v in found.items()
                }
            return self._variants

    def restore(self, text: str) -> str:
        """`text` with its syllables accented as the corpus most plausibly writes them; letter case
        and everything between the words kept."""
        matches = list(_TOKEN.finditer(text))
        if not matches:
            return text
        table = self.variants()
        options = [table.get(m.group().lower()) or [m.group().lower()] for m in matches]
        best = self._viterbi(options)
        out, last = [], 0
        for m, word in zip(matches, best):
            typed = m.group()
            out.append(text[last : m.start()])
            out.append(word.capitalize() if typed[:1].isupper() else word)
            last = m.end()
        out.append(text[last:])
        return "".join(out)

    def _viterbi(self, options: list[list[str]]) -> list[str]:
        # One back-pointer row per syllable, appended in place: rebuilding the list each step made a
        # long text quadratic (900k characters took 110 s).
        scores = [math.log1p(self._count(w)) for w in options[0]]
        back: list[list[int]] = []
        for prev_opts, opts in zip(options, options[1:]):
            step, ptr = [], []
            for w in opts:
                unigram = math.log1p(self._count(w))
                cands = [s + BIGRAM_WEIGHT * math.log1p(self._count(f"{p}_{w}")) for s, p in zip(scores, prev_opts)]
                j = max(range(len(cands)), key=cands.__getitem__)
                step.append(cands[j] + unigram)
                ptr.append(j)
            scores = step
            back.append(ptr)
        j = max(range(len(scores)), key=scores.__getitem__)
        path = [j]
        for ptr in reversed(back):
            j = ptr[j]
            path.append(j)
        path.reverse()
        return [opts[i] for opts, i in zip(options, path)]
