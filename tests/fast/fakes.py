"""A deterministic stand-in for the embedding model, and a small corpus it reads unambiguously.

`FakeEmbedder` implements the `index.embedder.Embedder` interface (it is a subclass, so anything the
interface gains later is inherited) without torch or a model file: a text's vector is its hashed
syllables and syllable bigrams, so two texts are close exactly as far as they share words. The
vectors keep the real model's contract: `dimension` floats, L2-normalized, float32, one row per text.

An e5-style model puts every pair of texts at a cosine of 0.7 or more, and the answerer's relevance
gate is calibrated on that scale (MIN_DENSE 0.80). So the fake gives every vector the same
component along one axis: cos(a, b) = FLOOR + (1 - FLOOR) * cos(bag(a), bag(b)). Unrelated texts
sit at FLOOR (below the gate), a sentence that shares most of a question's words well above it.

The hash is blake2b, not Python's `hash()`, so vectors are the same in every process and run."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from index.embedder import Embedder, ModelInfo
from index.textnorm import normalize_text, words

FAKE_MODEL = "tests/fake-hashed-syllables"
FAKE_DIMENSION = 384
FLOOR = 0.75  # cosine of two texts sharing no word


class FakeEmbedder(Embedder):
    def __init__(self, name: str = FAKE_MODEL, dimension: int = FAKE_DIMENSION, floor: float = FLOOR) -> None:
        super().__init__(model=None, name=name, location="(in-process fake)", device="cpu", precision="fp32")
        self._dimension = dimension
        self.floor = floor
        self.encoded = 0  # texts encoded so far: lets a test see what a cache saved

    @property
    def dimension(self) -> int:
        return self._dimension

    def info(self) -> ModelInfo:
        return ModelInfo(name=self.name, path=self.location, dimension=self.dimension, max_seq_length=512,
                         prompts={}, device=self.device, precision=self.precision)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._vectors(texts)

    def encode_documents(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        return self._vectors(texts)

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(words(t)) + 2 for t in texts]  # syllables plus the two special tokens

    def _vectors(self, texts: list[str]) -> np.ndarray:
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self.vector(text)
        return out

    def vector(self, text: str) -> np.ndarray:
        toks = words(normalize_text(text))
        bag = np.zeros(self.dimension - 1, dtype=np.float64)
        for feature in toks + [f"{a} {b}" for a, b in zip(toks, toks[1:])]:
            digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
            slot = int.from_bytes(digest[:4], "little") % (self.dimension - 1)
            bag[slot] += 1.0 if digest[4] & 1 else -1.0
        out = np.zeros(self.dimension, dtype=np.float64)
        norm = float(np.linalg.norm(bag))
        if norm == 0.0:
            out[0] = 1.0  # no words: only the shared axis
        else:
            out[0] = math.sqrt(self.floor)
            out[1:] = math.sqrt(1.0 - self.floor) * bag / norm
        return out.astype(np.float32)


def fake_load_embedder(config) -> FakeEmbedder:
    """Stands in for `index.embedder.load_embedder` (which takes Settings or IndexConfig: both carry
    `.model`). Anything but the fake's name means a test would have loaded the real model."""
    if config.model != FAKE_MODEL:
        raise AssertionError(f"the fast tier must not load the real model (asked for {config.model!r}); "
                             f"set NEWSQA_MODEL={FAKE_MODEL}")
    return FakeEmbedder()


# -- a small corpus -----------------------------------------------------------------------------
# Seven articles written so that the fake's word-overlap similarity picks the intended one: two
# people who both hand out certificates (follow-ups), a syndicated near-copy (duplicate groups), a
# long article of several passages (per-article cap), an English article, an undated one, and dates
# across three years (filters, periods).

HOA_SEN = "20240620-hoa-sen"
HOA_SEN_COPY = "20240621-hoa-sen-copy"
SU_DOAN = "su-doan-12"
TRUONG = "truong-hoa-binh"
LU_LUT = "lu-lut-mien-trung"
METRO = "hanoi-metro"
BONG_DA = "bong-da"

HOA_SEN_TEXT = (
    "Hợp tác xã Hoa Sen ở huyện Lục Ngạn vừa khánh thành nhà máy sấy vải thiều công suất 40 tấn mỗi ngày. "
    "Giám đốc hợp tác xã, bà Trần Thị Mận, cho biết nhà máy giúp nông dân không phải bán vải tươi giá rẻ.\n\n"
    "Nhà máy được xây dựng trong sáu tháng với tổng vốn 12 tỷ đồng. Tỉnh hỗ trợ một phần vốn vay ưu đãi "
    "cho hợp tác xã và các hộ trồng vải thiều.\n\n"
    "Vụ vải thiều năm nay được mùa, sản lượng toàn huyện ước đạt 180 nghìn tấn. Giá vải thiều sấy khô bán ra "
    "khoảng 90 nghìn đồng một kilôgam, cao gấp ba lần vải tươi.\n\n"
    "Theo kế hoạch, nhà máy sấy vải thiều sẽ mở thêm một dây chuyền đóng gói để xuất khẩu vải thiều sấy khô "
    "sang Nhật Bản và Hàn Quốc vào năm sau."
)

ARTICLES: dict[str, tuple[dict, str]] = {
    HOA_SEN: ({"title": "Hợp tác xã Hoa Sen khánh thành nhà máy sấy vải thiều", "date": "2024-06-20",
               "source": "Báo Thử", "url": "https://example.org/hoa-sen"}, HOA_SEN_TEXT),
    HOA_SEN_COPY: ({"title": "Hợp tác xã Hoa Sen khánh thành nhà máy sấy vải thiều ở Lục Ngạn", "date": "2024-06-21",
                    "source": "Báo Khác", "url": "https://example.net/hoa-sen"}, HOA_SEN_TEXT + " Ảnh: Báo Khác."),
    SU_DOAN: ({"title": "Sư đoàn 12 tổng kết công tác huấn luyện", "date": "2022-05-13", "source": "Báo Quân Đội",
               "url": "https://example.org/su-doan"},
              "Đại tá Nguyễn Văn An, Sư đoàn trưởng, chủ trì hội nghị tổng kết công tác huấn luyện năm 2021. "
              "Đại tá Nguyễn Văn An yêu cầu các đơn vị tăng cường huấn luyện ban đêm và bảo đảm an toàn tuyệt đối. "
              "Dịp này, Đại tá Nguyễn Văn An trao giấy khen cho 15 tập thể có thành tích xuất sắc."),
    TRUONG: ({"title": "Trường Tiểu học Hòa Bình khai giảng năm học mới", "date": "2023-09-05",
              "source": "Báo Giáo Dục", "url": "https://example.org/khai-giang"},
             "Cô Lê Thị Hoa, Hiệu trưởng Trường Tiểu học Hòa Bình, đọc thư của Chủ tịch nước trong lễ khai giảng. "
             "Cô Lê Thị Hoa yêu cầu giáo viên quan tâm đến học sinh có hoàn cảnh khó khăn. "
             "Cô Lê Thị Hoa trao giấy khen cho 20 học sinh đạt thành tích cao trong năm học trước."),
    LU_LUT: ({"title": "Mưa lớn gây lũ ở miền Trung", "date": "2023-10-02", "source": "Báo Miền Trung",
              "url": "https://example.org/lu"},
             "Mưa lớn kéo dài khiến nhiều tỉnh miền Trung ngập sâu. Hàng nghìn hộ dân ở Quảng Bình phải sơ tán "
             "khỏi vùng lũ. Lực lượng cứu hộ đã đưa 300 người đến nơi an toàn."),
    METRO: ({"title": "Hanoi opens its new metro line", "date": "2024-08-08", "source": "Hanoi Times",
             "language": "en", "url": "https://example.org/metro"},
            "The Nhon to Hanoi Station metro line opened to passengers on Thursday. The elevated section of the "
            "metro line is 8.5 kilometres long and has eight stations. Tickets cost between 8,000 and 15,000 dong."),
    BONG_DA: ({"title": "Đội tuyển Việt Nam thắng 2-0 trong trận giao hữu"},
              "Hai bàn thắng được ghi trong hiệp hai bởi tiền đạo Nguyễn Tiến Linh. Huấn luyện viên khen các cầu "
              "thủ trẻ chơi kỷ luật."),
}


def article_file(article_id: str, meta: dict, text: str) -> str:
    """The article as a user would write it: Markdown with YAML front matter."""
    head = "\n".join(f"{key}: {value}" for key, value in {"id": article_id, **meta}.items())
    return f"---\n{head}\n---\n\n{text}\n"


def write_corpus(folder: Path, ids: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for article_id in ids or list(ARTICLES):
        meta, text = ARTICLES[article_id]
        (folder / f"{article_id}.md").write_text(article_file(article_id, meta, text), encoding="utf-8")
    return folder
