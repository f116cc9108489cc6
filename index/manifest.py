"""The manifest records how an index was built; an index is never used with another model."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from index.errors import IndexFormatError, IndexMismatchError, IndexStateError, Msg

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
    collection: str = ""  # the Milvus collection holding this version's passages (store "milvus")
    milvus_seq: int = 0  # this version's number within its collection (rows with v_from <= seq)
    milvus_hidden: list[int] = field(default_factory=list)  # rows still in the collection, not in this version
    milvus_next_id: int = 0  # the next unused chunk id of the collection
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
            raise IndexStateError("index_manifest_unreadable", path=path, error=exc) from exc
        if manifest.format_version != FORMAT_VERSION:
            raise IndexFormatError("index_format_old", folder=folder, found=manifest.format_version,
                                   expected=FORMAT_VERSION)
        return manifest

    def check_model(self, model: str, dimension: int | None = None) -> None:
        if model != self.model or (dimension is not None and dimension != self.dimension):
            have = f"{model}" + (f" ({dimension}-d)" if dimension else "")
            raise IndexMismatchError("index_model_mismatch", model=self.model, dimension=self.dimension, have=have)

    def verify_files(self, folder: Path, deep: bool = False) -> None:
        """Sizes always; content hashes when `deep`. Names the broken file and the fix."""
        for name, info in self.files.items():
            path = Path(folder) / name
            problem = None
            if not path.is_file():
                problem = Msg("index_file_missing")
            elif path.stat().st_size != info["size"]:
                problem = Msg("index_file_size", size=path.stat().st_size, expected=info["size"])
            elif deep and file_digest(path) != info["sha256"]:
                problem = Msg("index_file_checksum")
            if problem:
                raise IndexStateError("index_file_broken", path=path, problem=problem)


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe_files(folder: Path, names: list[str]) -> dict[str, dict]:
    return {n: {"size": (Path(folder) / n).stat().st_size, "sha256": file_digest(Path(folder) / n)} for n in names}
