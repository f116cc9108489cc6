"""Running the real CLI and the real app in child processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from assistant.settings import PROJECT_ROOT, Settings


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "NEWSQA_INDEX_DIR": str(settings.index_dir),
        "NEWSQA_CORPUS_DIR": str(settings.corpus_dir),
        "NEWSQA_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    })
    env.update(extra)
    return env


def run_cli(settings: Settings, *args: str, check: bool = True, timeout: int = 300,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args], capture_output=True, text=True, timeout=timeout,
        env=env or child_env(settings), cwd=PROJECT_ROOT, check=check,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningApp:
    """The app on a free loopback port (`python app.py` unless another command is given), stopped on exit."""

    def __init__(self, settings: Settings, log_path: Path, command: list[str] | None = None,
                 cwd: Path = PROJECT_ROOT, env: dict[str, str] | None = None, **extra_env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(
            command or [sys.executable, str(PROJECT_ROOT / "app.py")], stdout=self._log, stderr=subprocess.STDOUT,
            env={**child_env(settings, NEWSQA_PORT=str(self.port), NEWSQA_HOST="127.0.0.1", **extra_env),
                 **(env or {})},
            cwd=cwd,
        )

    def wait_ready(self, timeout: float = 240, path: str = "") -> None:
        import urllib.request

        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited with {self.proc.returncode}: {self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)  # a start-time benchmark reads this: a 1 s poll added up to 1 s
        raise TimeoutError(f"app not ready after {timeout}s: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


@contextmanager
def serving(settings: Settings, log_path: Path, **extra_env: str) -> Iterator[str]:
    """The app running on a free port for the duration of the block; yields its URL."""
    app = RunningApp(settings, log_path, **extra_env)
    try:
        app.wait_ready()
        yield app.url
    finally:
        app.stop()


class LoopbackServer:
    """A threaded HTTP server on a free loopback port, for the edges the tests fake (an LLM
    server, news sites). Subclasses pass their request handler class."""

    def __init__(self, handler: type) -> None:
        from http.server import ThreadingHTTPServer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
