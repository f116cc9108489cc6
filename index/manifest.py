"""The manifest records how an index was built; an index is never used with another model."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from assistant.errors import IndexFormatError, IndexMismatchError, IndexStateError

FORMAT_VERSION = 3  # 2: BM25 analysis gained syllable bigrams; 3: duplicate groups (articles.dup_of)
FILENAME = "manifest.json"


@dataclass
class Manifest:
    model: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    separators: list[str]
    store: str
    articles: int
    chunks: int
    built_at: str
    build_seconds: float
    corpus_dir: str
    exact_duplicates: int = 0
    near_duplicates: int = 0
    files: dict[str, dict] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def save(self, folder: Path) -> None:
        (Path(folder) / FILENAME).write_text(json.dumps(asdict(self), ensure_ascii=False, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        path = Path(folder) / FILENAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            manifest = cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise IndexStateError(
                f"The index manifest {path} is missing or unreadable ({exc}). Fix: rebuild with `newsqa index build`.",
                f"Tệp mô tả chỉ mục {path} bị thiếu hoặc hỏng. Cách sửa: dựng lại bằng `newsqa index build`.",
            ) from exc
        if manifest.format_version != FORMAT_VERSION:
            raise IndexFormatError(
                f"The index at {folder} has format version {manifest.format_version}; this program reads "
                f"{FORMAT_VERSION}. Fix: rebuild with `newsqa index update --full` (cached embeddings are reused).",
                f"Chỉ mục tại {folder} có phiên bản định dạng {manifest.format_version}, chương trình cần "
                f"{FORMAT_VERSION}. Cách sửa: dựng lại bằng `newsqa index build`.",
            )
        return manifest

    def check_model(self, model: str, dimension: int | None = None) -> None:
        if model != self.model or (dimension is not None and dimension != self.dimension):
            have = f"{model}" + (f" ({dimension}-d)" if dimension else "")
            raise IndexMismatchError(
                f"This index was built with the embedding model '{self.model}' ({self.dimension}-d), but the "
                f"configured model is '{have}'. Vectors of different models cannot be mixed. Fix: rebuild with "
                f"`newsqa index build`, or set NEWSQA_MODEL={self.model}.",
                f"Chỉ mục này được dựng bằng mô hình '{self.model}' ({self.dimension} chiều), nhưng mô hình đang "
                f"cấu hình là '{have}'. Không thể trộn vector của hai mô hình. Cách sửa: dựng lại bằng "
                f"`newsqa index build` hoặc đặt NEWSQA_MODEL={self.model}.",
            )

    def verify_files(self, folder: Path, deep: bool = False) -> None:
        """Sizes always; content hashes when `deep`. Names the broken file and the fix."""
        for name, info in self.files.items():
            path = Path(folder) / name
            problem = None
            if not path.is_file():
                problem = "is missing"
            elif path.stat().st_size != info["size"]:
                problem = f"has {path.stat().st_size} bytes, expected {info['size']} (truncated or modified)"
            elif deep and file_digest(path) != info["sha256"]:
                problem = "does not match its checksum (corrupted)"
            if problem:
                raise IndexStateError(
                    f"Index file {path} {problem}. Fix: rebuild with `newsqa index build`.",
                    f"Tệp chỉ mục {path} bị hỏng hoặc thiếu. Cách sửa: dựng lại bằng `newsqa index build`.",
                )


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe_files(folder: Path, names: list[str]) -> dict[str, dict]:
    return {n: {"size": (Path(folder) / n).stat().st_size, "sha256": file_digest(Path(folder) / n)} for n in names}
