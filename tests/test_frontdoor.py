"""The front door as a user meets it: the `newsqa` console script of a non-editable install,
started from a directory that is not the checkout (`python app.py` from the repository root once
hid a broken `newsqa serve`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from assistant.settings import PROJECT_ROOT
from index.layout import POINTER
from tests.conftest import CORPUS, GUIDING_EN, SEED_ID, TASK_FRAGMENTS
from tests.helpers import RunningApp

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The project built as a wheel and installed (not editable) into a folder of its own."""
    root = tmp_path_factory.mktemp("install")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "wheel"), str(PROJECT_ROOT)],
                   check=True, timeout=300)
    wheel = next((root / "wheel").glob("newsqa-*.whl"))
    assert {"assistant/messages.json", "assistant/answer_gate.json"} <= set(zipfile.ZipFile(wheel).namelist())
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(root / "site"), str(wheel)],
                   check=True, timeout=300)
    return root / "site"


def test_installed_console_script_serves_the_corpus_from_another_directory(installed, base_settings, tmp_path):
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    corpus = shutil.copytree(CORPUS, tmp_path / "corpus-copy")
    settings = base_settings.with_(corpus_dir=corpus, index_dir=tmp_path / "index")
    # The wheel's package must win over the checkout's editable install.
    env = {"PYTHONPATH": str(installed)}
    probe = subprocess.run([sys.executable, "-c", "import assistant.web as w; print(w.__file__)"], cwd=workdir,
                           env={**os.environ, **env}, capture_output=True, text=True, check=True)
    assert probe.stdout.strip().startswith(str(installed))

    app = RunningApp(settings, tmp_path / "serve.log", command=[str(installed / "bin" / "newsqa"), "serve"],
                     cwd=workdir, env=env)
    try:
        app.wait_ready(path="api/health")
        request = urllib.request.Request(app.url + "api/ask", data=json.dumps({"question": GUIDING_EN}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as resp:
            answer = json.load(resp)
        assert answer["found"] and all(f in answer["answer"] for f in TASK_FRAGMENTS)
        assert SEED_ID in {c["article_id"] for c in answer["citations"]}
    finally:
        app.stop()
    assert app.proc.returncode is not None
    assert (tmp_path / "index" / POINTER).exists()
    assert not (workdir / "data").exists() and not (installed / "data").exists()
