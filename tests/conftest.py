"""Shared fixtures: the real model (materialized once into the user's model cache), and a real
index of the bundled demo corpus built once per test session into a temporary directory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from assistant.service import NewsQA
from assistant.settings import PROJECT_ROOT, Settings
from index.embedder import Embedder, load_embedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

CORPUS = PROJECT_ROOT / "corpus"
SEED_ID = "su-doan-346-nghi-quyet-382"
GUIDING_EN = "What tasks did Colonel Lương Thanh Bình assign?"
GUIDING_VI = "Đại tá Lương Thanh Bình yêu cầu đơn vị thực hiện những nhiệm vụ gì?"
# Fragments of the sentence that lists the tasks (the acceptance criterion of the guiding question).
TASK_FRAGMENTS = ("tuyên truyền giáo dục", "chú trọng công tác quy hoạch")
PASSWORD = "s3cret-for-tests"


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory) -> Settings:
    return Settings.from_env(index_dir=tmp_path_factory.mktemp("index"), corpus_dir=CORPUS)


@pytest.fixture(scope="session")
def embedder(base_settings) -> Embedder:
    return load_embedder(base_settings.index_config())


@pytest.fixture(scope="session")
def qa(base_settings, embedder) -> NewsQA:
    service = NewsQA(base_settings, embedder=embedder)
    service.build()
    return service


@pytest.fixture
def tiny_corpus(tmp_path) -> Path:
    """Three short articles written as a user would: front matter + body."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(CORPUS / "0001-su-doan-346-nghi-quyet-382.md", folder)
    (folder / "lu-lut.md").write_text(
        "---\ntitle: Mưa lớn gây lũ ở miền Trung\ndate: 2023-10-02\nsource: Báo Thử\nurl: https://example.org/lu\n---\n\n"
        "Mưa lớn kéo dài khiến nhiều tỉnh miền Trung ngập sâu. Hàng nghìn hộ dân phải sơ tán khỏi vùng lũ.\n",
        encoding="utf-8",
    )
    (folder / "bong-da.txt").write_text(
        "Đội tuyển Việt Nam thắng 2-0 trong trận giao hữu\n\nHai bàn thắng được ghi trong hiệp hai.\n",
        encoding="utf-8",
    )
    return folder


@pytest.fixture(scope="module")
def own_index(tmp_path_factory, base_settings, embedder) -> Settings:
    """A copy of the corpus and its own index, admin password set: tests that add articles."""
    from index.updater import update_index

    root = tmp_path_factory.mktemp("own")
    shutil.copytree(CORPUS, root / "corpus")
    settings = base_settings.with_(index_dir=root / "idx", corpus_dir=root / "corpus", admin_password=PASSWORD)
    update_index(settings.index_config(), embedder)
    return settings


@pytest.fixture(scope="module")
def server(own_index, tmp_path_factory):
    """The app serving `own_index` over HTTP; yields its base URL without the trailing slash."""
    from tests.helpers import serving

    with serving(own_index, tmp_path_factory.mktemp("own-app") / "app.log", NEWSQA_ADMIN_PASSWORD=PASSWORD) as url:
        yield url.rstrip("/")
