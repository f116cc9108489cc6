"""Corpus management for operators: list the articles, add them (pasted, uploaded, from a URL or
a feed), delete them. Every added article becomes one Markdown file with front matter in
CORPUS_DIR/added/; the index picks it up at the next `update`. Nothing is written for input that
is refused, and a refusal says why in the operator's language."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from assistant.errors import CorpusError, IndexMissingError, InputError, NewsQAError
from assistant.fetcher import fetch
from assistant.markup import safe_url
from assistant.settings import Settings
from index.corpus import SUPPORTED, Article, article_from_html, decode_text, load_file, make_article
from index.dedup import NearDuplicateIndex, fingerprint_text, text_hash
from index.layout import current_version, fsync_dir
from index.reader import open_metadata
from index.textnorm import fold_diacritics

log = logging.getLogger(__name__)
ADDED_DIR = "added"

MESSAGES = {
    "added": {"en": "Added “{title}” ({path}).", "vi": "Đã thêm “{title}” ({path})."},
    "duplicate": {"en": "Skipped “{title}”: the same text is already in the corpus as “{other}”.",
                  "vi": "Bỏ qua “{title}”: nội dung này đã có trong kho, bài “{other}”."},
    "similar": {"en": " Note: it is nearly identical to “{other}” (a syndicated copy?).",
                "vi": " Lưu ý: bài gần giống hệt bài “{other}” (có thể là bản đăng lại)."},
    "pending": {"en": " It is saved but not indexed yet: the next index update takes it.",
                "vi": " Bài đã được lưu nhưng chưa vào chỉ mục: lần cập nhật chỉ mục tới sẽ đưa vào."},
    "error": {"en": "{reason}", "vi": "{reason}"},
    "deleted": {"en": "Deleted “{title}” ({path}). Update the index to apply.",
                "vi": "Đã xóa “{title}” ({path}). Hãy cập nhật chỉ mục để áp dụng."},
}


@dataclass
class AddResult:
    status: str  # added | duplicate | error | deleted
    title: str = ""
    article_id: str = ""
    path: str = ""
    duplicate_of: str = ""  # title of the existing identical article
    similar_to: list[str] = field(default_factory=list)  # titles of near-duplicates
    pending: bool = False  # a duplicate of a file saved earlier whose index update has not happened (or failed)
    reason_en: str = ""
    reason_vi: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("added", "deleted")

    @property
    def needs_update(self) -> bool:
        return self.ok or self.pending

    def message(self, lang: str = "en") -> str:
        lang = lang if lang in ("en", "vi") else "en"
        reason = self.reason_vi if lang == "vi" else self.reason_en
        text = MESSAGES[self.status][lang].format(title=self.title, path=self.path, other=self.duplicate_of,
                                                   reason=reason)
        if self.similar_to:
            text += MESSAGES["similar"][lang].format(other=self.similar_to[0])
        if self.pending:
            text += MESSAGES["pending"][lang]
        return text

    def as_dict(self) -> dict:
        return {"status": self.status, "pending": self.pending, "title": self.title, "article_id": self.article_id,
                "path": self.path,
                "duplicate_of": self.duplicate_of, "similar_to": self.similar_to, "message": self.message("en")}


def _failure(exc: NewsQAError, title: str = "") -> AddResult:
    return AddResult("error", title=title, reason_en=exc.message("en"), reason_vi=exc.message("vi"))


@dataclass(frozen=True)
class _Entry:
    """What duplicate detection keeps of an article (its text is not kept)."""

    id: str
    title: str
    content_hash: str
    text_hash: str


@dataclass(frozen=True)
class ArticleRow:
    id: str
    title: str
    date: str | None
    source: str
    url: str
    chunks: int
    duplicate_of: str = ""


def slug(title: str, limit: int = 60) -> str:
    words = re.findall(r"[a-z0-9]+", fold_diacritics(title).lower())
    return "-".join(words)[:limit].strip("-") or "article"


def write_article(article: Article, folder: Path) -> Path:
    """One Markdown file with front matter, written to a temp name, fsynced and renamed: a crash
    leaves either no file or the whole file."""
    import frontmatter

    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256((article.title + article.text).encode()).hexdigest()[:8]
    stem = f"{(article.date or dt.date.today().isoformat()).replace('-', '')}-{slug(article.title)}-{digest}"
    meta = {"id": stem, "title": article.title}
    for key in ("date", "source", "url", "author", "summary"):
        if getattr(article, key):
            meta[key] = getattr(article, key)
    data = frontmatter.dumps(frontmatter.Post(article.text, **meta)) + "\n"
    target = folder / f"{stem}.md"
    fd, tmp = tempfile.mkstemp(prefix=".adding-", suffix=".md", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_dir(folder)  # the rename itself must survive a power cut, not only the bytes
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


class Library:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._known_version: str | None = None
        self._by_hash: dict[str, str] = {}  # text hash -> title, indexed or waiting
        self._indexed: dict[str, _Entry] = {}  # the live version's articles
        self._waiting: dict[str, _Entry] = {}  # files in added/ that no version holds yet
        self._near = NearDuplicateIndex()

    @property
    def corpus_dir(self) -> Path:
        return Path(self.settings.corpus_dir)

    # -- listing -------------------------------------------------------------------------------
    def list_articles(self, query: str = "", sort: str = "date") -> list[ArticleRow]:
        try:
            db = open_metadata(self.settings.index_dir)
        except IndexMissingError:
            return []
        try:
            rows = [ArticleRow(r["id"], r["title"], r["date"], r["source"] or "", r["url"] or "", r["chunks"],
                               r.get("dup_of") or "") for r in db.list_articles()]
        finally:
            db.close()
        needle = fold_diacritics(query or "").lower().strip()
        if needle:
            rows = [r for r in rows if needle in fold_diacritics(f"{r.title} {r.source} {r.id}").lower()]
        keys = {"date": lambda r: r.date or "", "title": lambda r: r.title.lower(),
                "source": lambda r: r.source.lower(), "chunks": lambda r: r.chunks}
        return sorted(rows, key=keys.get(sort, keys["date"]), reverse=sort in ("date", "chunks"))

    # -- adding --------------------------------------------------------------------------------
    def add_text(self, title: str, text: str, date: str = "", url: str = "", source: str = "",
                 author: str = "") -> AddResult:
        try:
            article = make_article({"title": title, "date": date or None, "url": url, "source": source,
                                    "author": author}, text or "", Path("pasted article"), "pasted")
        except NewsQAError as exc:
            return _failure(exc, (title or "").strip())
        if not (title or "").strip():
            return _failure(InputError("The article needs a title.", "Bài viết cần có tiêu đề."))
        if url and not safe_url(url):
            return _failure(InputError(f"The url {url[:200]!r} is not an http:// or https:// address.",
                                       f"Địa chỉ {url[:200]!r} không phải địa chỉ http:// hoặc https://."),
                            title.strip())
        return self.add(article)

    def add_upload(self, filename: str, data: bytes) -> list[AddResult]:
        name = Path(filename or "upload").name
        limit = int(self.settings.max_upload_mb * 1024 * 1024)
        if len(data) > limit:
            return [_failure(InputError(
                f"{name} is {len(data) / 1e6:.1f} MB; the limit is {self.settings.max_upload_mb:g} MB "
                "(NEWSQA_MAX_UPLOAD_MB).",
                f"{name} nặng {len(data) / 1e6:.1f} MB; giới hạn là {self.settings.max_upload_mb:g} MB."))]
        suffix = Path(name).suffix.lower()
        if suffix not in SUPPORTED:
            return [_failure(InputError(
                f"{name}: unsupported file type; use .md, .txt, .html or .jsonl.",
                f"{name}: không hỗ trợ loại tệp này; hãy dùng .md, .txt, .html hoặc .jsonl."))]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            try:
                loaded = load_file(path)
            except NewsQAError as exc:
                return [_failure(exc)]
        results = [self.add(replace(a, path="")) for a in loaded.articles]
        results += [AddResult("error", reason_en=f"{p.path}: {p.reason}", reason_vi=f"{p.path}: {p.reason}")
                    for p in loaded.problems]
        return results

    def add_url(self, url: str) -> AddResult:
        try:
            page = fetch(url, self.settings)
            article = article_from_html(decode_text(page.content, page.url), Path(page.url), "fetched", page.url)
        except NewsQAError as exc:
            return _failure(exc)
        return self.add(replace(article, url=article.url or page.url, path=""))

    def add_feed(self, url: str) -> list[AddResult]:
        import feedparser

        try:
            page = fetch(url, self.settings)
        except NewsQAError as exc:
            return [_failure(exc)]
        feed = feedparser.parse(page.content)
        entries = [e for e in feed.entries if e.get("link")]
        if not entries:
            return [_failure(InputError(f"The feed {url} has no entries with a link.",
                                        f"Nguồn tin {url} không có mục nào kèm liên kết."))]
        return [self.add_url(e["link"]) for e in entries[: self.settings.feed_max_entries]]

    def add(self, article: Article) -> AddResult:
        """Save `article` unless its text is already in the corpus; flag near-duplicates."""
        with self._lock:
            self._refresh()
            key = text_hash(article.text)
            if key in self._by_hash:
                # A copy saved by an add whose index update failed is pending: the retry must index it.
                return AddResult("duplicate", title=article.title, duplicate_of=self._by_hash[key],
                                 pending=any(e.text_hash == key for e in self._waiting.values()))
            near = self._near.similar(fingerprint_text(article.title, article.text))
            try:
                path = write_article(article, self.corpus_dir / ADDED_DIR)
            except OSError as exc:
                return _failure(InputError(f"Could not save the article: {exc}", f"Không lưu được bài viết: {exc}"),
                                article.title)
            self._by_hash[key] = article.title
            self._waiting[path.stem] = self._remember(replace(article, id=path.stem), article.content_hash)
            log.info("added article %s", path.name)
            return AddResult("added", title=article.title, article_id=path.stem,
                             path=str(path.relative_to(self.corpus_dir)),
                             similar_to=[self._title(k) for k, _ in near])

    def _refresh(self) -> None:
        """Fingerprints of the indexed articles and of files added since. Kept across versions: a
        new version costs a read of its (id, content hash) pairs and fingerprints of the articles
        that are new or changed, not of the whole corpus."""
        try:
            version = current_version(self.settings.index_dir).name
        except IndexMissingError:
            version = ""
        if version == self._known_version:
            return
        for entry in self._waiting.values():
            self._forget(entry)
        self._waiting = {}
        current: dict[str, str] = {}
        if version:
            db = open_metadata(self.settings.index_dir)
            try:
                current = db.content_hashes()
                stale = [i for i, e in self._indexed.items() if current.get(i) != e.content_hash]
                for article_id in stale:
                    self._forget(self._indexed.pop(article_id))
                fresh = [i for i in current if i not in self._indexed]
                for start in range(0, len(fresh), 500):
                    for a in db.articles(fresh[start : start + 500]).values():
                        self._indexed[a.id] = self._remember(a, current[a.id])
            finally:
                db.close()
        else:
            for entry in self._indexed.values():
                self._forget(entry)
            self._indexed = {}
        added = self.corpus_dir / ADDED_DIR
        if added.is_dir():
            for path in sorted(added.glob("*.md")):
                if path.stem not in current:
                    try:
                        for a in load_file(path).articles:
                            self._waiting[a.id] = self._remember(a, a.content_hash)
                    except (CorpusError, OSError):
                        continue
        self._by_hash = {}
        for entry in [*self._indexed.values(), *self._waiting.values()]:
            self._by_hash.setdefault(entry.text_hash, entry.title)
        self._known_version = version

    def _remember(self, article: Article, content_hash: str) -> _Entry:
        if article.id in self._near.hashes:
            self._near.remove(article.id)
        self._near.add(article.id, fingerprint_text(article.title, article.text))
        return _Entry(article.id, article.title, content_hash, text_hash(article.text))

    def _title(self, article_id: str) -> str:
        entry = self._waiting.get(article_id) or self._indexed.get(article_id)
        return entry.title if entry else article_id

    def _forget(self, entry: _Entry) -> None:
        if entry.id in self._near.hashes:
            self._near.remove(entry.id)

    # -- deleting ------------------------------------------------------------------------------
    def delete(self, article_id: str) -> AddResult:
        path = None
        try:
            db = open_metadata(self.settings.index_dir)
        except IndexMissingError:
            found = None
        else:
            try:
                found = db.articles([article_id]).get(article_id)
            finally:
                db.close()
            path = Path(found.path) if found and found.path else None
        if found is None or path is None:
            return _failure(InputError(f"No article with id {article_id!r} in the index.",
                                       f"Không có bài viết mã {article_id!r} trong chỉ mục."))
        corpus = self.corpus_dir.resolve()
        if not path.resolve().is_relative_to(corpus) or not path.is_file():
            return _failure(InputError(f"The file of {article_id!r} ({path}) is not in the corpus directory.",
                                       f"Tệp của bài {article_id!r} không nằm trong thư mục kho bài."))
        if path.suffix.lower() == ".jsonl":
            return _failure(InputError(f"{path.name} holds several articles; edit that file to remove one.",
                                       f"{path.name} chứa nhiều bài; hãy sửa tệp đó để xóa một bài."))
        path.unlink()
        with self._lock:
            self._known_version = None
        return AddResult("deleted", title=found.title, article_id=article_id, path=str(path.relative_to(corpus)))
