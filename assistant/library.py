"""Corpus management for operators: list the articles, add them (pasted, uploaded, from a URL or
a feed), delete them. Every added article becomes one Markdown file with front matter in
CORPUS_DIR/added/; the index picks it up at the next `update`. Nothing is written for input that
is refused, and a refusal says why in the operator's language."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from assistant.errors import CorpusError, IndexMissingError, InputError, NewsQAError
from assistant.fetcher import fetch
from assistant.markup import safe_url
from assistant.messages import t
from assistant.settings import Settings
from index.atomic import atomic_write_text
from index.corpus import SUPPORTED, Article, article_from_html, decode_text, load_file, make_article
from index.dedup import NearDuplicateIndex, fingerprint_text, text_hash
from index.layout import current_version
from index.reader import open_metadata
from index.textnorm import fold_diacritics

log = logging.getLogger(__name__)
ADDED_DIR = "added"


@dataclass
class AddResult:
    status: str  # added | duplicate | error | deleted | updated
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
        return self.status in ("added", "deleted", "updated")

    @property
    def needs_update(self) -> bool:
        return self.ok or self.pending

    def message(self, lang: str = "en") -> str:
        lang = lang if lang in ("en", "vi") else "en"
        reason = self.reason_vi if lang == "vi" else self.reason_en
        text = t(f"library_{self.status}", lang, title=self.title, path=self.path, other=self.duplicate_of,
                 reason=reason)
        if self.similar_to:
            text += t("library_similar", lang, other=self.similar_to[0])
        if self.pending:
            text += t("library_pending", lang)
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


def write_article(article: Article, folder: Path, stem: str = "") -> Path:
    """One Markdown file with front matter, written to a temp name, fsynced and renamed: a crash
    leaves either no file or the whole file. `stem`: rewrite that article (same id) in place."""
    folder.mkdir(parents=True, exist_ok=True)
    if stem:
        return atomic_write_text(folder / f"{stem}.md", _article_file(article, stem), prefix=".adding-", suffix=".md")
    digest = hashlib.sha256((article.title + article.text).encode()).hexdigest()[:8]
    base = f"{(article.date or dt.date.today().isoformat()).replace('-', '')}-{slug(article.title)}-{digest}"
    # A new article never replaces a different file: the name can be taken by the same story whose text a
    # feed has since rewritten in place (the name keeps the first text's digest), and that text would be lost.
    # The very same file already there is this article, written by another process (two feed pollers).
    for n in range(1, 1000):
        stem = base if n == 1 else f"{base}-{n}"
        path, data = folder / f"{stem}.md", _article_file(article, stem)
        try:
            return atomic_write_text(path, data, prefix=".adding-", suffix=".md", exclusive=True)
        except FileExistsError:
            if _holds(path, data):
                return path
    raise FileExistsError(folder / f"{base}.md")


def _holds(path: Path, data: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == data
    except (OSError, UnicodeDecodeError):
        return False


def _article_file(article: Article, stem: str) -> str:
    import frontmatter

    meta = {"id": stem, "title": article.title}
    for key in ("date", "source", "url", "author", "summary"):
        if getattr(article, key):
            meta[key] = getattr(article, key)
    return frontmatter.dumps(frontmatter.Post(article.text, **meta)) + "\n"


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
            return _failure(InputError("library_no_title"))
        if url and not safe_url(url):
            return _failure(InputError("library_bad_url", url=url[:200]), title.strip())
        return self.add(article)

    def add_upload(self, filename: str, data: bytes) -> list[AddResult]:
        name = Path(filename or "upload").name
        limit = int(self.settings.max_upload_mb * 1024 * 1024)
        if len(data) > limit:
            return [_failure(InputError("library_too_big", name=name, size=len(data) / 1e6,
                                        limit=self.settings.max_upload_mb))]
        suffix = Path(name).suffix.lower()
        if suffix not in SUPPORTED:
            return [_failure(InputError("library_bad_type", name=name))]
        with tempfile.TemporaryDirectory() as tmp:
            # The browser's file name, if the filesystem can hold it (not over 255 bytes, no NUL, not "..").
            usable = len(name.encode("utf-8", "replace")) <= 200 and "\x00" not in name and name not in ("", ".", "..")
            path = Path(tmp) / (name if usable else f"upload{suffix}")
            path.write_bytes(data)
            try:
                loaded = load_file(path)
            except NewsQAError as exc:
                return [_failure(exc)]
        results = [self.add(replace(a, path="")) for a in loaded.articles]
        results += [AddResult("error", reason_en=f"{p.path}: {p.message('en')}", reason_vi=f"{p.path}: {p.message('vi')}")
                    for p in loaded.problems]
        return results

    def add_url(self, url: str) -> AddResult:
        try:
            article = self.fetch_article(url)
        except NewsQAError as exc:
            return _failure(exc)
        return self.add(article)

    def fetch_article(self, url: str, user_agent: str = "") -> Article:
        """The article at `url` (fetched within the fetcher's limits, extracted by trafilatura), not saved."""
        page = fetch(url, self.settings, user_agent=user_agent) if user_agent else fetch(url, self.settings)
        article = article_from_html(decode_text(page.content, page.url), Path(page.url), "fetched", page.url)
        return replace(article, url=article.url or page.url, path="")

    def add_feed(self, url: str) -> list[AddResult]:
        import feedparser

        try:
            page = fetch(url, self.settings)
        except NewsQAError as exc:
            return [_failure(exc)]
        feed = feedparser.parse(page.content)
        entries = [e for e in feed.entries if e.get("link")]
        if not entries:
            return [_failure(InputError("library_feed_empty", url=url))]
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
                return _failure(InputError("library_save_failed", error=exc), article.title)
            self._by_hash[key] = article.title
            self._waiting[path.stem] = self._remember(replace(article, id=path.stem), article.content_hash)
            log.info("added article %s", path.name)
            return AddResult("added", title=article.title, article_id=path.stem,
                             path=str(path.relative_to(self.corpus_dir)),
                             similar_to=[self._title(k) for k, _ in near])

    def replace_article(self, article_id: str, article: Article) -> AddResult:
        """Rewrite the file of `article_id` in CORPUS_DIR/added/ with `article` (a feed entry whose
        text changed): same id, replaced atomically, so the next update re-indexes it in place."""
        with self._lock:
            self._refresh()
            folder = self.corpus_dir / ADDED_DIR
            target = folder / f"{article_id}.md"
            if not re.fullmatch(r"[\w.-]{1,200}", article_id) or not target.is_file():
                return _failure(InputError("library_no_added", id=article_id), article.title)
            key = text_hash(article.text)
            if key in self._by_hash:
                return AddResult("duplicate", title=article.title, duplicate_of=self._by_hash[key],
                                 pending=any(e.text_hash == key for e in self._waiting.values()))
            try:
                path = write_article(article, folder, stem=article_id)
            except OSError as exc:
                return _failure(InputError("library_save_failed", error=exc), article.title)
            self._known_version = None  # the old text's fingerprint goes at the next refresh
            log.info("updated article %s", path.name)
            return AddResult("updated", title=article.title, article_id=article_id,
                             path=str(path.relative_to(self.corpus_dir)))

    def reload(self) -> None:
        """Forget what duplicate detection knows: another process may have added files since."""
        with self._lock:
            self._known_version = None

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
            return _failure(InputError("library_no_article", id=article_id))
        corpus = self.corpus_dir.resolve()
        if not path.resolve().is_relative_to(corpus) or not path.is_file():
            return _failure(InputError("library_outside_corpus", id=article_id, path=path))
        if path.suffix.lower() == ".jsonl":
            return _failure(InputError("library_multi_article_file", name=path.name))
        path.unlink()
        with self._lock:
            self._known_version = None
        return AddResult("deleted", title=found.title, article_id=article_id, path=str(path.relative_to(corpus)))
