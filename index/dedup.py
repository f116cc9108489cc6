"""Duplicate articles: exact copies (same normalized text) and near-duplicates (syndicated copies
with small edits), found with MinHash over word shingles and LSH (datasketch).

Near-duplicates are grouped at index time: every article of a group points at the group's first
article (`dup_of`), and search shows one result per group ("also published by …")."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from index.textnorm import fold_diacritics, normalize_text

NUM_PERM = 64
SHINGLE = 4
THRESHOLD = 0.8  # estimated Jaccard similarity of shingle sets


def text_hash(text: str) -> str:
    """Identity of an article's text, whatever its whitespace, case or Unicode form."""
    canon = " ".join(normalize_text(text).lower().split())
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def fingerprint_text(title: str, body: str) -> str:
    """What near-duplicate detection compares: the headline and the text together."""
    return f"{title}\n{body}"


def shingles(text: str) -> list[bytes]:
    words = re.findall(r"\w+", fold_diacritics(normalize_text(text)).lower())
    if len(words) < SHINGLE:
        return [" ".join(words).encode()] if words else []
    return list({" ".join(words[i : i + SHINGLE]).encode() for i in range(len(words) - SHINGLE + 1)})


def minhash(text: str):
    from datasketch import MinHash

    m = MinHash(num_perm=NUM_PERM, seed=1)
    grams = shingles(text)
    if grams:
        m.update_batch(grams)
    return m


@dataclass(frozen=True)
class DuplicateGroups:
    """article id -> the id of the first article of its group (absent: the article is unique)."""

    dup_of: dict[str, str]
    exact: int  # articles that are exact copies of an earlier one
    near: int  # articles that are near (not exact) copies of an earlier one


class NearDuplicateIndex:
    def __init__(self, threshold: float = THRESHOLD) -> None:
        from datasketch import MinHashLSH

        self.lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self.hashes: dict[str, object] = {}
        self.threshold = threshold

    def add(self, key: str, text: str, signature=None) -> None:
        m = signature if signature is not None else minhash(text)
        self.hashes[key] = m
        self.lsh.insert(key, m)

    def remove(self, key: str) -> None:
        self.lsh.remove(key)
        del self.hashes[key]

    def similar(self, text: str, signature=None) -> list[tuple[str, float]]:
        """Keys whose estimated similarity to `text` reaches the threshold, most similar first."""
        m = signature if signature is not None else minhash(text)
        found = [(k, float(m.jaccard(self.hashes[k]))) for k in self.lsh.query(m)]
        return sorted((f for f in found if f[1] >= self.threshold), key=lambda f: -f[1])


def find_groups(items: Iterable[tuple[str, str, str]]) -> DuplicateGroups:
    """Group (id, title, text) triples in order; the first article seen stands for its group.
    Exact: the same normalized text. Near: title + text shingles similar enough."""
    dup_of: dict[str, str] = {}
    by_hash: dict[str, str] = {}
    near_index = NearDuplicateIndex()
    exact = near = 0
    for key, title, body in items:
        h = text_hash(body)
        text = fingerprint_text(title, body)
        if h in by_hash:
            dup_of[key] = dup_of.get(by_hash[h], by_hash[h])
            exact += 1
            continue
        by_hash[h] = key
        m = minhash(text)
        similar = near_index.similar(text, m)
        if similar:
            first = similar[0][0]
            dup_of[key] = dup_of.get(first, first)
            near += 1
        near_index.add(key, text, m)
    return DuplicateGroups(dup_of, exact, near)


def jaccard(a: str, b: str) -> float:
    sa, sb = set(shingles(a)), set(shingles(b))
    return len(sa & sb) / max(1, len(sa | sb))
