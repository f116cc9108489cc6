"""Diacritic restoration for unaccented Vietnamese questions, learnt from the index's own words.

The embedding model barely understands Vietnamese typed without diacritics ("dai ta luong thanh
binh yeu cau gi"), while BM25 copes through its folded tokens. So before a question is embedded,
each unaccented syllable is replaced by the accented syllable of the corpus that folds to it, the
sequence chosen by Viterbi over the corpus's syllable-bigram document frequencies (the BM25
vocabulary holds both; its accent table lists the readings of each folded syllable). Syllables the
corpus does not know stay as typed."""

from __future__ import annotations

import math
import re

from index.vocabulary import Vocabulary

_TOKEN = re.compile(r"\w+", re.UNICODE)
# A bigram seen in the corpus is strong evidence for a reading; a frequent syllable weak evidence.
BIGRAM_WEIGHT = 2.0


class AccentRestorer:
    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self._count = vocab.df  # how many passages hold a syllable or bigram

    def restore(self, text: str) -> str:
        """`text` with its syllables accented as the corpus most plausibly writes them; letter case
        and everything between the words kept."""
        matches = list(_TOKEN.finditer(text))
        if not matches:
            return text
        options = [self.vocab.accent_variants(m.group().lower()) or [m.group().lower()] for m in matches]
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
