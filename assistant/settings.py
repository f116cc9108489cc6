"""One settings object, read from the environment (prefix NEWSQA_)."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from assistant.errors import InputError
from index.config import BACKENDS, DEFAULT_MODEL, IndexConfig, MilvusConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _data_home() -> Path:
    """Where corpus/ and data/index live by default: the source checkout when running from one
    (editable install, `python app.py`), else the working directory (a wheel installs the package
    into site-packages, which is no place for a corpus or an index)."""
    return PROJECT_ROOT if (PROJECT_ROOT / "pyproject.toml").is_file() else Path.cwd()


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


# Numeric settings below which nothing works (every other number must be >= 0).
_MINIMUM = {"chunk_size": 50, "top_k": 1, "max_per_article": 1, "answer_sentences": 1, "max_question_chars": 1,
            "queue_concurrency": 1, "queue_size": 1, "llm_max_tokens": 1, "feed_max_entries": 1}


@dataclass(frozen=True)
class Settings:
    model: str = DEFAULT_MODEL
    model_cache_dir: Path = field(default_factory=lambda: _cache_home() / "newsqa" / "models")
    corpus_dir: Path = field(default_factory=lambda: _data_home() / "corpus")
    index_dir: Path = field(default_factory=lambda: _data_home() / "data" / "index")
    device: str = "auto"
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    batch_size: int = 0  # 0: by device (16 on CPU, where small batches pad least; 256 on a GPU)
    # Above this many passages the vector index is HNSW (approximate, ~1 ms) instead of exact search
    # (bench/faiss_choice.py: exact stays under the 60 ms search budget up to about 300k passages).
    exact_search_limit: int = 300_000
    chunk_size: int = 700
    chunk_overlap: int = 100
    # Where builds put the passages: "local" (FAISS + bm25s files, embedded) or "milvus" (pymilvus;
    # an index is always read from the backend it was built into, named in its manifest).
    backend: str = "local"
    milvus_uri: str = ""  # "" = milvus-lite in-process, a file in the index folder; "http://host:19530" for a server
    milvus_token: str = field(default="", repr=False)  # "user:password" or an API key
    milvus_prefix: str = "newsqa"  # collection name prefix; the live version is the alias of that name
    # Builds embed on a Ray cluster (`newsqa index build --ray [ADDRESS]`): "" no, "local" a Ray
    # started in the build's process, else the cluster's address ("auto", "ray://head:10001").
    ray: str = ""
    ray_actors: int = 0  # embedding actors; 0: one per GPU, else one per two CPUs
    top_k: int = 5
    max_per_article: int = 2
    answer_sentences: int = 3
    # The answer/refuse decision: "fitted" (assistant/answer_gate.json, from `bench/answers.py fit`),
    # "rule" (the fixed thresholds of assistant/answering.py), or the path of another fitted .json file.
    answer_gate: str = "fitted"
    max_question_chars: int = 2000
    answer_mode: str = "extractive"  # extractive | llm (llm needs llm_base_url and llm_model)
    llm_base_url: str = ""  # any OpenAI-compatible server: Ollama, vLLM, llama.cpp ...
    llm_model: str = ""
    llm_api_key: str = field(default="", repr=False)
    llm_timeout: float = 30.0
    llm_max_tokens: int = 512  # cap on each answer's length, asked of the server
    # Corpus management (Articles tab, `newsqa articles ...`)
    admin_password: str = field(default="", repr=False)  # when set, adding, deleting and rebuilding in the web UI/API ask for it
    max_upload_mb: float = 10.0  # uploads and fetched pages
    fetch_timeout: float = 15.0  # seconds per page or feed
    # Hosts the URL fetcher may reach although they are loopback/private ("127.0.0.1,intranet"), or "*".
    fetch_allow_private: str = ""
    feed_max_entries: int = 20
    # Feed subscriptions (`newsqa feeds ...`): polled by `newsqa serve` unless NEWSQA_FEED_POLLING=off.
    feed_polling: str = "on"  # on | off
    feed_interval: float = 1800.0  # seconds between polls of a feed added without --every
    feed_min_interval: float = 300.0  # no feed is polled more often than this (seconds)
    feed_max_backoff: float = 6 * 3600.0  # longest wait after repeated errors (seconds)
    feed_poll_budget: float = 300.0  # a poll's fetching stops after this many seconds; the rest waits
    feed_lock_wait: float = 600.0  # how long a poll waits for another build/update to finish
    queue_concurrency: int = 4  # web requests using the model at once (the model itself takes one at a time)
    queue_size: int = 256  # waiting requests beyond this get a "busy, retry" message
    log_format: str = "json"  # json | text (server logs)
    # Host names the server answers to, besides loopback and `host` ("news.example.org,10.0.0.5"),
    # or "*". Other Host headers are refused: a DNS-rebinding page cannot reach a loopback server.
    trusted_hosts: str = ""
    host: str = "127.0.0.1"
    port: int = 7860
    ui_lang: str = "vi"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"NEWSQA_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, raw, cls.__dataclass_fields__[f.name].type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if self.backend not in BACKENDS:
            raise InputError("setting_choice", name="NEWSQA_BACKEND", raw=self.backend, choices=", ".join(BACKENDS))
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,99}", self.milvus_prefix):
            raise InputError("setting_choice", name="NEWSQA_MILVUS_PREFIX", raw=self.milvus_prefix,
                             choices="ASCII letters, digits and _ (starting with a letter)")
        for f in fields(self):
            value = getattr(self, f.name)
            # NaN or infinity would pass every "<" check below and then misbehave far away (a feed
            # interval of NaN is stored as NULL and reads as "subscribed already").
            # Above 1e9 (seconds: 31 years) a date computed from it overflows.
            if str(f.type) in ("int", "float") and not (math.isfinite(value) and _MINIMUM.get(f.name, 0) <= value < 1e9):
                raise InputError("setting_choice", name=f"NEWSQA_{f.name.upper()}", raw=value,
                                 choices=f"a number from {_MINIMUM.get(f.name, 0)} to 1e9")
        if self.chunk_overlap >= self.chunk_size:
            raise InputError("setting_choice", name="NEWSQA_CHUNK_OVERLAP", raw=self.chunk_overlap,
                             choices=f"a number below NEWSQA_CHUNK_SIZE ({self.chunk_size})")
        if self.feed_interval < self.feed_min_interval:  # every feed added without --every would be refused
            raise InputError("setting_choice", name="NEWSQA_FEED_INTERVAL", raw=self.feed_interval,
                             choices=f"at least NEWSQA_FEED_MIN_INTERVAL ({self.feed_min_interval:g})")
        if self.port > 65535:
            raise InputError("setting_choice", name="NEWSQA_PORT", raw=self.port, choices="0 to 65535")

    def milvus_config(self) -> MilvusConfig:
        return MilvusConfig(self.milvus_uri, self.milvus_token, self.milvus_prefix)

    def with_(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def index_config(self) -> IndexConfig:
        """The part of these settings the index layer (build, update, embedding model) reads."""
        return IndexConfig(
            model=self.model, model_cache_dir=self.model_cache_dir, corpus_dir=self.corpus_dir,
            index_dir=self.index_dir, device=self.device, precision=self.precision,
            batch_size=self.batch_size, exact_search_limit=self.exact_search_limit,
            chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap,
            backend=self.backend, milvus=self.milvus_config(), ray=self.ray, ray_actors=self.ray_actors,
        )


def _convert(name: str, raw: str, type_name: object) -> object:
    kind = str(type_name)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw).expanduser()
    except ValueError as exc:
        raise InputError("setting_invalid", name=name.upper(), raw=raw, kind=kind) from exc
    return raw
