"""Reading articles from a corpus directory: Markdown/text with YAML front matter, JSONL, HTML.

One unreadable file never stops a load: it is reported by name and skipped."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from index.errors import CorpusError, Msg, NewsQAError
from index.textnorm import detect_language, normalize_text

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".md", ".markdown", ".txt"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES

# Site chrome that follows the article body on Vietnamese news sites ("Other news:",
# "Search by:", "Related:" ...). Everything from such a line to the end is dropped.
_TRAILER = re.compile(
    r"^\s*(các tin khác|tin khác|tin liên quan|bài liên quan|xem thêm|tìm kiếm theo|"
    r"chia sẻ bài viết|bình luận|từ khóa|tags?)\s*:",
    re.IGNORECASE,
)
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%Y/%m/%d", "%d.%m.%Y", "%Y-%m-%dT%H:%M:%S")

# Metadata arrives from files and web pages nobody vetted, so every field must be one scalar of
# bounded length. A list or mapping is refused: stringified, a 419-byte YAML alias bomb became a
# 269M-character title. Over its limit, prose is cut (the article still loads) while an identifier
# is refused, since a cut id or URL would name something else.
_SCALARS = (str, int, float, bool, dt.date)  # dt.datetime is a dt.date
LIMITS = {"title": 1000, "summary": 5000, "source": 200, "author": 200, "id": 200, "url": 2000, "language": 20}
_IDENTIFIERS = {"id", "url", "language"}
FRONT_MATTER_LIMIT = 64 * 1024  # characters; real front matter is a few hundred


@dataclass
class Article:
    id: str
    title: str
    text: str
    date: str | None = None
    url: str = ""
    source: str = ""
    author: str = ""
    language: str = "vi"
    summary: str = ""
    path: str = ""
    dup_of: str = ""  # set at index time: the first article of its duplicate group

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(normalize_text(self.title + "\n" + self.text).encode()).hexdigest()

    @property
    def signature(self) -> str:
        """What an update compares: the text and every stored fact a result shows or a filter reads
        (an edit of the date or the source alone must reach the index too)."""
        return article_signature(self.content_hash, self.date, self.url, self.source, self.author,
                                 self.language, self.summary)

    def as_dict(self) -> dict:
        return asdict(self)


def article_signature(content_hash: str, *facts: str | None) -> str:
    return hashlib.sha256(json.dumps([content_hash, *[f or "" for f in facts]], ensure_ascii=False).encode()).hexdigest()


@dataclass
class LoadProblem:
    """A file (or JSONL line) left out of the corpus, and why, in the reader's language."""

    path: str
    problem: Msg | NewsQAError

    @property
    def reason(self) -> str:
        return self.problem.message("en")

    def message(self, lang: str = "en") -> str:
        return self.problem.message(lang)


@dataclass
class CorpusLoad:
    articles: list[Article] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)


def parse_date(value: object) -> str | None:
    """ISO date (YYYY-MM-DD) from the formats news sites use; None when absent.
    Raises CorpusError for a date that is present but unreadable."""
    if value is None or (isinstance(value, str) and not value.strip()):  # "   " from a form is no date either
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    # Timestamps ("2022-05-13T08:00:00+07:00", "13/05/2022 08:00") are read by their date part.
    for candidate in dict.fromkeys((text, text.split("T")[0], text.split(" ")[0])):
        for fmt in _DATE_FORMATS:
            try:
                return dt.datetime.strptime(candidate, fmt).date().isoformat()
            except ValueError:
                continue
    try:
        return dt.datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        raise CorpusError("corpus_bad_date", text=text) from None


def clean_body(text: str) -> str:
    """Normalize, drop trailing site chrome and empty lines; captions stay as ordinary text."""
    lines = normalize_text(text).split("\n")
    kept: list[str] = []
    for line in lines:
        if _TRAILER.match(line):
            break
        if line:
            kept.append(line)
    return "\n\n".join(kept)


def _scalar(meta: dict, key: str, path: Path) -> object:
    value = meta.get(key)
    if value is not None and not isinstance(value, _SCALARS):
        kind = type(value).__name__
        raise CorpusError("corpus_field_not_scalar", name=path.name, field=key, kind=kind)
    return value


def _text(meta: dict, key: str, path: Path) -> str:
    return str(_scalar(meta, key, path) or "")


def _fit(text: str, key: str, path: Path) -> str:
    """`text` within LIMITS[key]: prose is cut, an identifier over its limit refused."""
    limit = LIMITS[key]
    if len(text) <= limit:
        return text
    if key in _IDENTIFIERS:
        raise CorpusError("corpus_field_too_long", name=path.name, field=key, length=len(text), limit=limit)
    log.warning("%s: %s cut from %d to %d characters", path.name, key, len(text), limit)
    return text[: limit - 3] + "..."


def make_article(meta: dict, body: str, path: Path, default_id: str) -> Article:
    text = clean_body(body)
    title = _fit(normalize_text(_text(meta, "title", path)).strip(), "title", path)
    if not title and text:
        # A plain text file: its first line is the headline, unless that line is all there is.
        first, _, rest = text.partition("\n\n")
        title = first if len(first) <= 200 else first[:197] + "..."
        if rest.strip() and len(first) <= 200:
            text = rest
    if not text.strip():
        raise CorpusError("corpus_no_text", name=path.name)
    language = _text(meta, "language", path) or _text(meta, "lang", path)
    return Article(
        id=_fit(_text(meta, "id", path), "id", path) or default_id,
        title=title,
        text=text,
        date=parse_date(_scalar(meta, "date", path)),
        url=_fit(_text(meta, "url", path), "url", path),
        source=_fit(normalize_text(_text(meta, "source", path)), "source", path),
        author=_fit(normalize_text(_text(meta, "author", path)), "author", path),
        language=_fit(language, "language", path) or detect_language(text),
        summary=_fit(normalize_text(_text(meta, "summary", path)), "summary", path),
        path=str(path),
    )


def read_text_file(path: Path) -> str:
    return decode_text(path.read_bytes(), path.name)


def decode_text(raw: bytes, name: str) -> str:
    """UTF-8 (with or without BOM), else a detected encoding; binary is refused."""
    if b"\x00" in raw[:8192]:
        raise CorpusError("corpus_binary", name=name)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is None or best.encoding is None:
        raise CorpusError("corpus_encoding", name=name)
    log.info("%s decoded as %s", name, best.encoding)
    return str(best)


class _AliasFound(Exception):
    pass


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise _AliasFound(self.peek_event().anchor)
        return super().compose_node(parent, index)


def _load_front_matter(fm: str, name: str) -> object:
    """YAML front matter, refusing what can blow up: aliases (nine nested lists of nine aliases
    expand to 9**9 items from a few hundred bytes) and blocks over FRONT_MATTER_LIMIT characters."""
    if len(fm) > FRONT_MATTER_LIMIT:
        raise CorpusError("corpus_front_matter_too_long", name=name, length=len(fm), limit=FRONT_MATTER_LIMIT)
    try:
        return yaml.load(fm, Loader=_NoAliasLoader)
    except _AliasFound as exc:
        raise CorpusError("corpus_yaml_alias", name=name, alias=str(exc)) from None
    except (ValueError, OverflowError) as exc:
        # YAML reads "date: 2024-02-30" as a timestamp and Python's date refuses it: a bad value, not a crash.
        raise CorpusError("corpus_bad_front_matter_value", name=name, error=exc) from exc


def load_markdown(path: Path) -> Article:
    import frontmatter
    from frontmatter.default_handlers import YAMLHandler

    content = read_text_file(path)
    handler = YAMLHandler()
    handler.load = lambda fm, **_: _load_front_matter(fm, path.name)  # its own load expands aliases
    try:
        # Given a handler, python-frontmatter no longer checks that the file opens with "---";
        # JSON or TOML front matter still goes to its own handler.
        post = frontmatter.loads(content, handler=handler if handler.detect(content.lstrip()) else None)
    except yaml.YAMLError as exc:
        raise CorpusError("corpus_bad_yaml", name=path.name, error=exc) from exc
    except ValueError as exc:  # a file opening with "{" goes to the JSON handler: JSONDecodeError
        raise CorpusError("corpus_bad_front_matter", name=path.name, error=exc) from exc
    return make_article(dict(post.metadata), post.content, path, path.stem)


def load_html(path: Path) -> Article:
    return article_from_html(read_text_file(path), path, path.stem)


def article_from_html(html: str, path: Path, default_id: str, url: str = "") -> Article:
    """The article in a web page (trafilatura): text, title, date, author, site."""
    import trafilatura

    doc = trafilatura.bare_extraction(html, url=url or None, with_metadata=True, include_comments=False,
                                      favor_recall=True)
    if doc is None:
        raise CorpusError("corpus_html_empty", name=path.name)
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    meta = {
        "title": data.get("title"), "date": data.get("date"), "author": data.get("author"),
        "url": data.get("url") or url, "source": data.get("sitename") or data.get("hostname") or "",
        "summary": data.get("description") or "",
    }
    try:
        meta["date"] = parse_date(meta["date"])
    except CorpusError:
        meta["date"] = None
    return make_article(meta, data.get("text") or "", path, default_id)


def jsonl_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of every non-blank line of JSON Lines text. Lines end at "\n" only:
    str.splitlines() would also cut at U+2028, U+2029 or U+0085, which a JSON string may hold unescaped."""
    for lineno, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield lineno, line


def load_jsonl(path: Path) -> CorpusLoad:
    """Each line one article; a broken line is reported and the others still load."""
    out = CorpusLoad()
    for lineno, line in jsonl_lines(read_text_file(path)):
        where = f"{path.name}:{lineno}"
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("not a JSON object")
            out.articles.append(make_article(rec, str(rec.get("text") or ""), path, f"{path.stem}-{lineno}"))
        except ValueError as exc:
            out.problems.append(LoadProblem(where, Msg("corpus_bad_json_line", error=str(exc))))
        except CorpusError as exc:
            out.problems.append(LoadProblem(where, exc))
    return out


def load_file(path: Path) -> CorpusLoad:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return load_jsonl(path)
    if suffix in HTML_SUFFIXES:
        return CorpusLoad(articles=[load_html(path)])
    if suffix in TEXT_SUFFIXES:
        return CorpusLoad(articles=[load_markdown(path)])
    raise CorpusError("corpus_unsupported", name=path.name, suffix=suffix)


def load_corpus(corpus_dir: Path) -> CorpusLoad:
    """All supported files under `corpus_dir`, in name order; README files are documentation."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise CorpusError("corpus_dir_missing", corpus_dir=corpus_dir)
    result = CorpusLoad()
    seen: dict[str, str] = {}
    for path in sorted(p for p in corpus_dir.rglob("*") if p.is_file()):
        if path.suffix.lower() not in SUPPORTED or path.stem.lower() == "readme" or path.name.startswith("."):
            continue
        try:
            loaded = load_file(path)
        except (CorpusError, OSError) as exc:
            log.warning("Skipping %s: %s", path, exc)
            problem = exc if isinstance(exc, CorpusError) else Msg("file_unreadable", path=path.name, error=exc.strerror)
            result.problems.append(LoadProblem(str(path), problem))
            continue
        result.problems.extend(loaded.problems)
        for art in loaded.articles:
            if art.id in seen:
                result.problems.append(LoadProblem(str(path), Msg("corpus_duplicate_id", id=art.id, first=seen[art.id])))
                continue
            seen[art.id] = str(path)
            result.articles.append(art)
    return result
