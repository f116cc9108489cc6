"""Measures one idea for English questions (issue 17), not shipped: a bilingual lexicon induced from
the embedding model itself. The index's Vietnamese terms (syllables and syllable bigrams seen in at
least --min-df passages, shaped like Vietnamese syllables, with a diacritic, no function word) are
embedded once; an English question's content words get their nearest terms (cosine >= --threshold,
--top per word) as extra BM25 tokens. Prints a few words' nearest terms, then English retrieval on
bench/answers.py's index: gold article at rank 1 / in the top 5, for

- base:      every word of the English question, as the product searched it before it searched by the
             question's anchors (lexical side at half weight);
- expanded:  base tokens + the lexicon's terms;
- anchored:  only the tokens Vietnamese text can hold (numbers, words with diacritics, capitalized
             names) + the lexicon's terms.

Usage: python bench/lexicon_probe.py --articles 35439 --split tune   (~3 min at 35k; the lexicon's
embedding is about 1 s per 1,000 terms on 2 cores)"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import answers  # noqa: E402 (the bench's own index and question sets)

import assistant.retrieval as retrieval_module  # noqa: E402
from assistant.retrieval import Retriever, SearchRequest  # noqa: E402
from assistant.service import NewsQA  # noqa: E402
from index.lexical import FOLD, _with_bigrams, analyze_query  # noqa: E402
from index.textnorm import detect_language, fold_diacritics, words  # noqa: E402

ONSET = "(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdđghklmnprstvx])?"
VOWELS = "[aăâeêioôơuưyáắấéếíóốớúứýàằầèềìòồờùừỳảẳẩẻểỉỏổởủửỷãẵẫẽễĩõỗỡũữỹạặậẹệịọộợụựỵ]{1,3}"
SYLLABLE = re.compile(f"^{ONSET}{VOWELS}(?:ng|nh|ch|[cmnpt])?$")
VI_FUNCTION = set("là có được này các một những của trong cho và với đã sẽ không người khi đến từ để tại thì mà "
                  "cũng rất như về nhiều ra vào lên theo do bị hơn nên nay đó đây ấy năm".split())
EN_FUNCTION = set("a an the of in on at to for from by with and or but is are was were be been being do does did "
                  "what which who whom whose when where why how that this these those it its as than then there "
                  "their they he she his her him i you we our your not no into about after before during over "
                  "under up down out can could would should will may might must has have had also other such "
                  "some any each many much more most very one two first".split())
PROBES = ("gold price weapons technical software flood president accident tasks colonel division assign "
          "training population university army percent").split()


def vietnamese_terms(vocab, min_df: int, unigrams: int, bigrams: int) -> list[str]:
    df = np.diff(np.asarray(vocab._indptr))
    found: dict[int, list[tuple[int, str]]] = {1: [], 2: []}
    for token, key in vocab._trie.items():
        if token.startswith(FOLD):
            continue
        column = int(vocab._columns[key])
        count = int(df[column]) if column < len(df) else 0
        parts = token.split("_")
        if (count < min_df or len(parts) > 2 or not all(SYLLABLE.match(p) for p in parts)
                or any(p in VI_FUNCTION for p in parts) or all(fold_diacritics(p) == p for p in parts)):
            continue
        found[len(parts)].append((count, token))
    return [t for _, t in sorted(found[1], reverse=True)[:unigrams]] + \
           [t for _, t in sorted(found[2], reverse=True)[:bigrams]]


class Lexicon:
    def __init__(self, embedder, terms: list[str], top: int, threshold: float) -> None:
        self.embedder, self.terms, self.top, self.threshold = embedder, terms, top, threshold
        self.vectors = embedder.encode_queries([t.replace("_", " ") for t in terms])
        self._words: dict[str, np.ndarray] = {}

    def nearest(self, word: str, n: int) -> list[tuple[str, float]]:
        if word not in self._words:
            self._words[word] = self.embedder.encode_queries([word])[0]
        sims = self.vectors @ self._words[word]
        return [(self.terms[i], float(sims[i])) for i in np.argsort(-sims)[:n]]

    def expand(self, text: str) -> list[str]:
        content = [w for w in words(text) if w not in EN_FUNCTION and len(w) >= 3 and not w.isdigit()]
        return [t for w in content for t, s in self.nearest(w, self.top) if s >= self.threshold]


def anchors(text: str) -> list[str]:
    raw = re.findall(r"\w+", text)
    return [w.lower() for i, w in enumerate(raw)
            if any(ch.isdigit() for ch in w) or fold_diacritics(w) != w
            or (i > 0 and w[:1].isupper() and w.lower() not in EN_FUNCTION)]


def analysis(variant: str, lexicon: Lexicon):
    def analyze(text: str, bigrams: bool = True) -> list[str]:
        if variant == "base" or detect_language(text) != "en":
            return analyze_query(text, bigrams)
        own = analyze_query(text, bigrams) if variant == "expanded" else (
            _with_bigrams(anchors(text)) if bigrams else anchors(text))
        extra = lexicon.expand(text)
        return own + (extra if bigrams else [p for t in extra for p in t.split("_")])
    return analyze


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", default="35439")
    ap.add_argument("--split", choices=["tune", "held"], default="tune")
    ap.add_argument("--min-df", type=int, default=20)
    ap.add_argument("--unigrams", type=int, default=12000)
    ap.add_argument("--bigrams", type=int, default=48000)
    ap.add_argument("--top", type=int, default=3)
    ap.add_argument("--threshold", type=float, default=0.88)
    ap.add_argument("--data", type=Path, default=answers.SHARED / "baomoi-35k.jsonl.gz")
    ap.add_argument("--qa", type=Path, default=answers.SHARED / "qa")
    args = ap.parse_args()
    args.limit = None
    qa = NewsQA(answers.settings_for(args))
    qa.search("warm-up", k=1)
    started = time.perf_counter()
    terms = vietnamese_terms(qa.index().lexical.vocab, args.min_df, args.unigrams, args.bigrams)
    lexicon = Lexicon(qa.embedder, terms, args.top, args.threshold)
    print(f"lexicon: {len(terms)} Vietnamese terms of the index, embedded in {time.perf_counter() - started:.0f} s")
    for word in PROBES:
        print(f"  {word}: " + ", ".join(f"{t} {s:.3f}" for t, s in lexicon.nearest(word, 4)))
    items = answers.cases(args, args.split)["xquad en"]
    retriever = Retriever(qa.index(), qa.embedder)
    vectors = retriever.encode([c.question for c in items])
    print(f"{qa.status().articles} articles, {len(items)} English questions ({args.split} split); "
          f"top {args.top} terms per word at cosine >= {args.threshold}")
    print("| variant | gold at rank 1 | gold in top 5 |\n|---|---|---|")
    for variant in ("base", "expanded", "anchored"):
        # The retriever's lexical query (the product's own reads the anchors of an English question).
        retrieval_module.lexical_query = analysis(variant, lexicon)
        at1 = at5 = 0
        for case, vector in zip(items, vectors):
            found = [h.article_id for h in retriever.search(SearchRequest(case.question, 5, 2), vector)]
            at1 += found[:1] == [case.article_id]
            at5 += case.article_id in found
        print(f"| {variant} | {100 * at1 / len(items):.1f}% | {100 * at5 / len(items):.1f}% |")


if __name__ == "__main__":
    main()
