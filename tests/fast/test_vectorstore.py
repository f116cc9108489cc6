"""The vector store keeps fp16 vectors (index/vectorstore.py): same neighbours as fp32 search, half
the bytes, and stores written with fp32 vectors by earlier versions still load and search."""

from __future__ import annotations

import numpy as np

from index.vectorstore import FaissStore, load_store, new_store


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, 384)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _exact(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(q @ x.T), axis=1)[:, :k]


def test_fp16_store_finds_the_fp32_neighbours_in_half_the_bytes(tmp_path):
    x, q = _vectors(3000), _vectors(50, seed=1)
    ids = np.arange(1000, 1000 + len(x))
    store = new_store("faiss", 384, len(x), exact_limit=10_000)
    store.add(ids, x)
    store.save(tmp_path)
    size = (tmp_path / FaissStore.FILENAME).stat().st_size
    assert size < len(x) * 384 * 4 * 0.55, size
    loaded = load_store("faiss", tmp_path, 384)
    scores, found = loaded.search(q, 10)
    truth = ids[_exact(x, q, 10)]
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]) >= 0.99
    assert np.allclose(scores[:, 0], np.max(q @ x.T, axis=1), atol=2e-3)
    allowed = ids[::7]
    _, filtered = loaded.search(q, 5, allowed=allowed)
    assert set(filtered.ravel()) <= set(allowed)
    assert np.allclose(loaded.reconstruct(int(ids[5])), x[5], atol=1e-3)


def test_an_approximate_fp16_store_keeps_its_recall():
    x, q = _vectors(4000), _vectors(50, seed=2)
    store = new_store("faiss", 384, len(x), exact_limit=1000)
    assert store.approximate
    store.add(np.arange(len(x)), x)
    _, found = store.search(q, 10)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, _exact(x, q, 10))]) >= 0.95


def test_an_fp32_store_from_an_earlier_version_still_loads(tmp_path):
    import faiss

    x, q = _vectors(500), _vectors(5, seed=3)
    old = faiss.IndexIDMap2(faiss.IndexFlatIP(384))
    old.add_with_ids(x, np.arange(500, dtype=np.int64))
    faiss.write_index(old, str(tmp_path / FaissStore.FILENAME))
    loaded = load_store("faiss", tmp_path, 384)
    scores, found = loaded.search(q, 3)
    assert np.array_equal(found, _exact(x, q, 3))
    loaded_scores = np.take_along_axis(q @ x.T, found, axis=1)
    assert np.allclose(scores, loaded_scores, atol=1e-6)
