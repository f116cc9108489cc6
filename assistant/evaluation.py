"""Retrieval evaluation on question sets (ViRE's format or question + gold article id).

Metrics follow ViRE's definitions with one relevant document per question, in percent:
P@1, R@10, MRR@10 and nDCG@10 (gain 1 / log2(rank + 1) for the gold document within the top 10)."""

from __future__ import annotations

import csv
import json
import logging
import math
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from assistant.errors import IndexStateError, InputError
from assistant.retrieval import Retriever
from assistant.settings import Settings
from index.builder import build_from_articles
from index.corpus import Article, jsonl_lines
from index.embedder import Embedder
from index.reader import OpenIndex, open_index
from index.textnorm import normalize_text

log = logging.getLogger(__name__)

MODES = ("lexical", "dense", "hybrid")
QUESTION_KEYS = ("question", "query")
CONTEXT_KEYS = ("context", "passage", "document")
GOLD_KEYS = ("article_id", "gold_id", "doc_id")


@dataclass
class EvalSet:
    name: str
    questions: list[str]
    gold: list[str]
    docs: list[Article] = field(default_factory=list)  # empty: evaluate against an existing index


@dataclass
class Metrics:
    p_at_1: float
    recall_at_10: float
    mrr_at_10: float
    ndcg_at_10: float
    questions: int

    def as_dict(self) -> dict:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _rows(path: Path) -> list[dict]:
    try:
        if path.suffix.lower() in (".jsonl", ".json"):
            rows = []
            for lineno, line in jsonl_lines(path.read_text(encoding="utf-8-sig")):
                try:
                    rows.append(json.loads(line))
                except ValueError as exc:
                    raise InputError("eval_bad_json", name=path.name, line=lineno, error=exc) from exc
            return rows
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return [{(k or "").strip(): v for k, v in row.items()} for row in csv.DictReader(fh)]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError("file_unreadable", path=path, error=exc) from exc


def _pick(row: dict, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if row.get(key) not in (None, ""):
            return str(row[key])
    return None


def load_eval_file(path: Path) -> EvalSet:
    """CSV or JSONL with `question` and either `context` (identical contexts are merged into one
    document) or a gold `article_id` of an existing index."""
    path = Path(path)
    rows = _rows(path)
    if not rows:
        raise InputError("eval_no_rows", name=path.name)
    evalset = EvalSet(path.stem, [], [])
    doc_ids: dict[str, str] = {}
    for i, row in enumerate(rows, start=1):
        question = _pick(row, QUESTION_KEYS)
        context = _pick(row, CONTEXT_KEYS)
        gold = _pick(row, GOLD_KEYS)
        if not question or not (context or gold):
            raise InputError("eval_bad_row", name=path.name, row=i, found=", ".join(sorted(row)) or "nothing")
        if context:
            key = normalize_text(context)
            if key not in doc_ids:
                doc_ids[key] = f"doc-{len(doc_ids) + 1}"
                evalset.docs.append(Article(id=doc_ids[key], title="", text=key, source=path.stem))
            gold = doc_ids[key]
        evalset.questions.append(question)
        evalset.gold.append(str(gold))
    return evalset


def metrics_from_ranks(ranks: list[int | None]) -> Metrics:
    n = len(ranks)
    top10 = [r for r in ranks if r is not None and r <= 10]
    return Metrics(
        p_at_1=100 * sum(1 for r in top10 if r == 1) / n,
        recall_at_10=100 * len(top10) / n,
        mrr_at_10=100 * sum(1 / r for r in top10) / n,
        ndcg_at_10=100 * sum(1 / math.log2(r + 1) for r in top10) / n,
        questions=n,
    )


def article_ranking(retriever: Retriever, chunk_article: dict[int, str], question: str, qv, mode: str) -> list[str]:
    return distinct_articles((s.chunk_id for s in retriever.rank(question, qv, 50, mode)), chunk_article)


def distinct_articles(chunk_ids: Iterable[int], chunk_article: dict[int, str], limit: int = 10) -> list[str]:
    """Distinct articles in rank order (an article ranks where its best passage does)."""
    seen: dict[str, None] = {}
    for chunk_id in chunk_ids:
        art = chunk_article.get(chunk_id)
        if art is not None and art not in seen:
            seen[art] = None
            if len(seen) >= limit:
                break
    return list(seen)


def gold_rank(order: list[str], gold: str) -> int | None:
    return order.index(gold) + 1 if gold in order else None


def evaluate_index(index: OpenIndex, embedder: Embedder, evalset: EvalSet, modes=MODES,
                   show_progress: bool = True) -> dict[str, Metrics]:
    retriever = Retriever(index, embedder)
    chunk_article = {c.id: c.article_id for c in index.db.all_chunks()}
    qvs = retriever.encode(evalset.questions)
    ranks: dict[str, list[int | None]] = {m: [] for m in modes}
    items = zip(evalset.questions, evalset.gold, qvs)
    for question, gold, qv in tqdm(items, total=len(evalset.questions), desc="questions", disable=not show_progress):
        for mode in modes:
            order = article_ranking(retriever, chunk_article, question, qv, mode)
            ranks[mode].append(gold_rank(order, gold))
    return {m: metrics_from_ranks(r) for m, r in ranks.items()}


def evaluate(settings: Settings, embedder: Embedder, evalset: EvalSet, modes=MODES,
             show_progress: bool = True) -> dict[str, Metrics]:
    with eval_index(settings, embedder, evalset, show_progress) as index:
        return evaluate_index(index, embedder, evalset, modes, show_progress)


@contextmanager
def eval_index(settings: Settings, embedder: Embedder, evalset: EvalSet,
               show_progress: bool = True) -> Iterator[OpenIndex]:
    """Contexts: a throwaway index of them; gold article ids: the configured index."""
    if not evalset.docs:
        index = open_index(settings.index_dir, settings.model, settings.milvus_config())
        try:
            yield index
        finally:
            index.close()
        return
    with tempfile.TemporaryDirectory(prefix="newsqa-eval-") as tmp:
        # The index is thrown away, its passage vectors are not: a second run over the same file
        # (another mode, unaccented questions, a changed fusion) skips the model for the contexts.
        cache = eval_cache_dir(settings)
        cache.mkdir(parents=True, exist_ok=True)
        (Path(tmp) / "cache").symlink_to(cache, target_is_directory=True)
        # On a Milvus server the throwaway index gets collections of its own, dropped afterwards.
        scratch = settings.with_(milvus_prefix=f"{settings.milvus_prefix}_eval_{uuid.uuid4().hex[:8]}")
        build_from_articles(scratch.index_config(), embedder, evalset.docs, Path(tmp), f"eval:{evalset.name}",
                            show_progress)
        index = open_index(Path(tmp), embedder.name, scratch.milvus_config())
        try:
            yield index
        finally:
            index.close()
            _drop_scratch(scratch, Path(tmp), index.manifest.collection)


def _drop_scratch(settings: Settings, index_dir: Path, collection: str) -> None:
    """The throwaway index's collection (on a server it would outlive the temporary folder)."""
    if not collection:
        return
    from index import milvus

    try:
        milvus.drop_collection(milvus.connect(settings.milvus_config(), index_dir), collection)
    except IndexStateError as exc:
        log.warning("Could not drop the evaluation collection %s: %s", collection, exc.message("en"))


def eval_cache_dir(settings: Settings) -> Path:
    return Path(settings.model_cache_dir).parent / "eval-cache"


def format_table(name: str, results: dict[str, Metrics]) -> str:
    lines = [f"{name}: {next(iter(results.values())).questions} questions",
             f"{'mode':10} {'P@1':>7} {'R@10':>7} {'MRR@10':>7} {'nDCG@10':>8}"]
    for mode, m in results.items():
        lines.append(f"{mode:10} {m.p_at_1:7.2f} {m.recall_at_10:7.2f} {m.mrr_at_10:7.2f} {m.ndcg_at_10:8.2f}")
    return "\n".join(lines)
