"""The operator's side, shared by the web UI and the JSON API: corpus changes and index updates,
behind the admin password when one is configured."""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field

from assistant.errors import AccessError, NewsQAError
from assistant.library import AddResult, Library
from assistant.service import NewsQA
from index.builder import Progress

log = logging.getLogger(__name__)

TEXTS = {
    "updated": {"en": "Index updated: {summary}", "vi": "Đã cập nhật chỉ mục: {summary}"},
    "update_failed": {"en": "The index was not updated: {error}", "vi": "Chưa cập nhật được chỉ mục: {error}"},
    "nothing": {"en": "Nothing was added.", "vi": "Không có bài nào được thêm."},
}


@dataclass
class AdminReport:
    results: list[AddResult] = field(default_factory=list)
    update_en: str = ""
    update_vi: str = ""

    @property
    def changed(self) -> bool:
        return any(r.ok for r in self.results)

    def message(self, lang: str) -> str:
        lines = [f"- {r.message(lang)}" for r in self.results]
        update = self.update_vi if lang == "vi" else self.update_en
        if update:
            lines.append(update)
        return "\n".join(lines) or TEXTS["nothing"][lang if lang in ("en", "vi") else "en"]

    def as_dict(self) -> dict:
        return {"results": [r.as_dict() for r in self.results], "index_update": self.update_en}


class Admin:
    def __init__(self, qa: NewsQA) -> None:
        self.qa = qa
        self.library = Library(qa.settings)

    @property
    def protected(self) -> bool:
        return bool(self.qa.settings.admin_password)

    def authorize(self, password: str | None) -> None:
        expected = self.qa.settings.admin_password
        if expected and not hmac.compare_digest((password or "").encode(), expected.encode()):
            raise AccessError("Wrong or missing admin password.", "Sai hoặc thiếu mật khẩu quản trị.")

    def add_text(self, password: str | None, title: str, text: str, date: str = "", url: str = "",
                 source: str = "", progress: Progress | None = None) -> AdminReport:
        self.authorize(password)
        return self._then_update([self.library.add_text(title, text, date, url, source)], progress)

    def add_files(self, password: str | None, files: list[tuple[str, bytes]],
                  progress: Progress | None = None) -> AdminReport:
        self.authorize(password)
        results = [r for name, data in files for r in self.library.add_upload(name, data)]
        return self._then_update(results, progress)

    def add_url(self, password: str | None, url: str, feed: bool = False,
                progress: Progress | None = None) -> AdminReport:
        self.authorize(password)
        results = self.library.add_feed(url) if feed else [self.library.add_url(url)]
        return self._then_update(results, progress)

    def delete(self, password: str | None, article_id: str, progress: Progress | None = None) -> AdminReport:
        self.authorize(password)
        return self._then_update([self.library.delete(article_id)], progress)

    def update(self, password: str | None, full: bool = False, progress: Progress | None = None) -> AdminReport:
        self.authorize(password)
        return self._update(AdminReport(), full, progress)

    def _then_update(self, results: list[AddResult], progress: Progress | None) -> AdminReport:
        report = AdminReport(results)
        return self._update(report, False, progress) if report.changed else report

    def _update(self, report: AdminReport, full: bool, progress: Progress | None) -> AdminReport:
        try:
            update = self.qa.update(full=full, progress=progress)
        except NewsQAError as exc:
            report.update_en = TEXTS["update_failed"]["en"].format(error=exc.message("en"))
            report.update_vi = TEXTS["update_failed"]["vi"].format(error=exc.message("vi"))
            return report
        report.update_en = TEXTS["updated"]["en"].format(summary=update.summary("en"))
        report.update_vi = TEXTS["updated"]["vi"].format(summary=update.summary("vi"))
        return report
