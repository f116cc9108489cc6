"""Reading articles from a corpus directory: Markdown/text with YAML front matter, JSONL, HTML.

One unreadable file never stops a load: it is reported by name and skipped."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from assistant.errors import CorpusError
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

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class LoadProblem:
    path: str
    reason: str


@dataclass
class CorpusLoad:
    articles: list[Article] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)


def parse_date(value: object) -> str | None:
    """ISO date (YYYY-MM-DD) from the formats news sites use; None when absent.
    Raises CorpusError for a date that is present but unreadable."""
    if value is None or value == "":
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
        raise CorpusError(
            f"Unknown date format {text!r}; use YYYY-MM-DD or DD/MM/YYYY.",
            f"Không hiểu định dạng ngày {text!r}; hãy dùng YYYY-MM-DD hoặc DD/MM/YYYY.",
        ) from None


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


def make_article(meta: dict, body: str, path: Path, default_id: str) -> Article:
    text = clean_body(body)
    title = normalize_text(str(meta.get("title") or "")).strip()
    if not title and text:
        # A plain text file: its first line is the headline, unless that line is all there is.
        first, _, rest = text.partition("\n\n")
        title = first if len(first) <= 200 else first[:197] + "..."
        if rest.strip() and len(first) <= 200:
            text = rest
    if not text.strip():
        raise CorpusError(f"{path.name}: the article has no text.", f"{path.name}: bài viết không có nội dung.")
    return Article(
        id=str(meta.get("id") or default_id),
        title=title,
        text=text,
        date=parse_date(meta.get("date")),
        url=str(meta.get("url") or ""),
        source=str(meta.get("source") or ""),
        author=normalize_text(str(meta.get("author") or "")),
        language=str(meta.get("language") or meta.get("lang") or detect_language(text)),
        summary=normalize_text(str(meta.get("summary") or "")),
        path=str(path),
    )


def read_text_file(path: Path) -> str:
    return decode_text(path.read_bytes(), path.name)


def decode_text(raw: bytes, name: str) -> str:
    """UTF-8 (with or without BOM), else a detected encoding; binary is refused."""
    if b"\x00" in raw[:8192]:
        raise CorpusError(f"{name}: this is a binary file, not text.", f"{name}: đây là tệp nhị phân, không phải văn bản.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is None or best.encoding is None:
        raise CorpusError(
            f"{name}: unknown text encoding; save the file as UTF-8.",
            f"{name}: không nhận ra bảng mã; hãy lưu tệp dưới dạng UTF-8.",
        )
    log.info("%s decoded as %s", name, best.encoding)
    return str(best)


def load_markdown(path: Path) -> Article:
    import frontmatter
    import yaml

    content = read_text_file(path)
    try:
        post = frontmatter.loads(content)
    except yaml.YAMLError as exc:
        raise CorpusError(
            f"{path.name}: the front matter is not valid YAML ({exc}).",
            f"{path.name}: phần đầu (front matter) không phải YAML hợp lệ.",
        ) from exc
    return make_article(dict(post.metadata), post.content, path, path.stem)


def load_html(path: Path) -> Article:
    return article_from_html(read_text_file(path), path, path.stem)


def article_from_html(html: str, path: Path, default_id: str, url: str = "") -> Article:
    """The article in a web page (trafilatura): text, title, date, author, site."""
    import trafilatura

    doc = trafilatura.bare_extraction(html, url=url or None, with_metadata=True, include_comments=False,
                                      favor_recall=True)
    if doc is None:
        raise CorpusError(
            f"{path.name}: no article text could be extracted from the HTML.",
            f"{path.name}: không trích xuất được nội dung bài viết từ HTML.",
        )
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


def load_jsonl(path: Path) -> CorpusLoad:
    """Each line one article; a broken line is reported and the others still load."""
    out = CorpusLoad()
    for lineno, line in enumerate(read_text_file(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{lineno}"
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("not a JSON object")
            out.articles.append(make_article(rec, str(rec.get("text") or ""), path, f"{path.stem}-{lineno}"))
        except ValueError as exc:
            out.problems.append(LoadProblem(where, f"invalid JSON line: {exc}"))
        except CorpusError as exc:
            out.problems.append(LoadProblem(where, str(exc)))
    return out


def load_file(path: Path) -> CorpusLoad:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return load_jsonl(path)
    if suffix in HTML_SUFFIXES:
        return CorpusLoad(articles=[load_html(path)])
    if suffix in TEXT_SUFFIXES:
        return CorpusLoad(articles=[load_markdown(path)])
    raise CorpusError(f"{path.name}: unsupported file type {suffix!r}.", f"{path.name}: không hỗ trợ loại tệp {suffix!r}.")


def load_corpus(corpus_dir: Path) -> CorpusLoad:
    """All supported files under `corpus_dir`, in name order; README files are documentation."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise CorpusError(
            f"The corpus directory {corpus_dir} does not exist.", f"Thư mục kho bài viết {corpus_dir} không tồn tại."
        )
    result = CorpusLoad()
    seen: dict[str, str] = {}
    for path in sorted(p for p in corpus_dir.rglob("*") if p.is_file()):
        if path.suffix.lower() not in SUPPORTED or path.stem.lower() == "readme" or path.name.startswith("."):
            continue
        try:
            loaded = load_file(path)
        except (CorpusError, OSError) as exc:
            log.warning("Skipping %s: %s", path, exc)
            result.problems.append(LoadProblem(str(path), str(exc)))
            continue
        result.problems.extend(loaded.problems)
        for art in loaded.articles:
            if art.id in seen:
                result.problems.append(LoadProblem(str(path), f"duplicate article id {art.id!r} (first in {seen[art.id]})"))
                continue
            seen[art.id] = str(path)
            result.articles.append(art)
    return result
