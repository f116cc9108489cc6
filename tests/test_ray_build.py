"""The embedding step on Ray Data (`newsqa index build --ray`): a local Ray with two CPU actors gives
the vectors and the index of the single-process build, commits each batch to the embedding cache
(an interrupted build resumes from it), and an address that does not answer is one clear error."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.errors import IndexStateError
from index.builder import build_index
from index.embedcache import EmbeddingCache
from index.embedder import load_embedder
from index.reader import open_index
from tests.conftest import CORPUS
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def ray_local():
    import ray

    yield
    if ray.is_initialized():
        ray.shutdown()


@pytest.mark.slow
def test_two_ray_actors_build_the_same_index(tmp_path, qa, ray_local, monkeypatch):
    # fp32 on both sides: in bf16 a vector depends a little on which passages share its batch, and the
    # actors batch differently from a single process.
    reference = qa.settings.with_(index_dir=tmp_path / "reference", precision="fp32")
    embedder = load_embedder(reference.index_config())
    build_index(reference.index_config(), embedder, CORPUS)
    settings = reference.with_(index_dir=tmp_path / "idx", ray="local", ray_actors=2)
    # Interrupted after the first batch reached the cache: the rerun embeds only the rest.
    real_put = EmbeddingCache.put_many
    calls = []

    def put_then_fail(self, keys, vectors):
        real_put(self, keys, vectors)
        calls.append(len(keys))
        raise KeyboardInterrupt

    monkeypatch.setattr(EmbeddingCache, "put_many", put_then_fail)
    with pytest.raises(KeyboardInterrupt):
        build_index(settings.index_config(), embedder, CORPUS)
    monkeypatch.setattr(EmbeddingCache, "put_many", real_put)
    report = build_index(settings.index_config(), embedder, CORPUS)
    assert calls[0] > 0 and report.reused >= calls[0] and report.embedded <= report.chunks - calls[0]

    local, distributed = open_index(reference.index_dir), open_index(settings.index_dir)
    try:
        assert distributed.manifest.chunks == local.manifest.chunks and distributed.manifest.articles == local.manifest.articles
        want, got = local.db.all_chunks(), distributed.db.all_chunks()
        assert [(c.article_id, c.start, c.end, c.text) for c in got] == [(c.article_id, c.start, c.end, c.text) for c in want]
        a = np.vstack([local.search.store.reconstruct(c.id) for c in want])
        b = np.vstack([distributed.search.store.reconstruct(c.id) for c in got])
        cosines = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        assert cosines.min() >= 0.9999, cosines.min()
        assert len(distributed.lexical.vocab) == len(local.lexical.vocab)
    finally:
        local.close()
        distributed.close()


def test_a_ray_address_that_does_not_answer_is_one_clear_error(tmp_path, qa):
    settings = qa.settings.with_(index_dir=tmp_path / "idx")
    done = run_cli(settings, "index", "build", "-q", "--ray", "127.0.0.1:9", check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "--ray" in done.stderr and "127.0.0.1:9" in done.stderr
    assert not (tmp_path / "idx" / "CURRENT").exists()
    with pytest.raises(IndexStateError) as err:
        build_index(settings.with_(ray="ray://nowhere.invalid:10001").index_config(), None, CORPUS)
    assert err.value.key == "ray_unreachable"
