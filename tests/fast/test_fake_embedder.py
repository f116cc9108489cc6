"""The fake embedder keeps the real one's contract: same interface, unit vectors of `dimension`
floats, deterministic across processes, and similarity that follows shared words."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import numpy as np

from assistant.settings import PROJECT_ROOT
from index.embedder import Embedder
from tests.fast.fakes import FAKE_MODEL, FLOOR, FakeEmbedder


def test_the_fake_has_every_public_method_of_the_embedder_with_the_same_parameters():
    fake = FakeEmbedder()
    assert isinstance(fake, Embedder)
    for name, member in inspect.getmembers(Embedder):
        if name.startswith("_") or not callable(member):
            continue
        ours = getattr(FakeEmbedder, name)
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(member).parameters), name
    info = fake.info()
    assert info.name == FAKE_MODEL and info.dimension == fake.dimension


def test_vectors_are_unit_float32_rows_of_the_declared_dimension(fake_embedder):
    texts = ["Hợp tác xã Hoa Sen", "", "a b c " * 200]
    for encode in (fake_embedder.encode_queries, fake_embedder.encode_documents):
        vecs = encode(texts)
        assert vecs.shape == (3, fake_embedder.dimension) and vecs.dtype == np.float32
        assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert fake_embedder.encode_queries([]).shape == (0, fake_embedder.dimension)
    assert fake_embedder.count_tokens(["một hai ba", ""]) == [5, 2]


def test_similarity_follows_shared_words(fake_embedder):
    q, same, related, unrelated = fake_embedder.encode_queries([
        "nhà máy sấy vải thiều công suất bao nhiêu",
        "Nhà máy sấy vải thiều công suất bao nhiêu",  # case and form do not matter
        "nhà máy sấy vải thiều có công suất 40 tấn mỗi ngày",
        "đội tuyển thắng trận giao hữu",
    ])
    assert float(q @ same) > 0.999
    assert float(q @ unrelated) < float(q @ related) < float(q @ same)
    # Texts sharing nothing sit near the floor, below the answerer's relevance gate.
    assert abs(float(q @ unrelated) - FLOOR) < 0.1


def test_vectors_do_not_depend_on_the_process_or_its_hash_seed(fake_embedder):
    text = "Đại tá Nguyễn Văn An trao giấy khen"
    code = ("import sys; from tests.fast.fakes import FakeEmbedder; "
            "sys.stdout.write(FakeEmbedder().encode_queries([sys.argv[1]])[0].tobytes().hex())")
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(PROJECT_ROOT)}
        out = subprocess.run([sys.executable, "-c", code, text], capture_output=True, text=True, env=env,
                             cwd=PROJECT_ROOT, check=True, timeout=60).stdout
        outputs.add(out)
    assert outputs == {fake_embedder.encode_queries([text])[0].tobytes().hex()}
