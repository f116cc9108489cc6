"""Print the answerer's best-sentence scores for answerable and unanswerable questions on an
index, to check the relevance gates in assistant/answering.py.

Usage: python bench/calibrate_gate.py [--index DIR]"""

from __future__ import annotations

import argparse
from pathlib import Path

from assistant.answering import ExtractiveAnswerer
from assistant.retrieval import Retriever, SearchRequest
from assistant.service import NewsQA
from assistant.settings import Settings
from index.textnorm import detect_language

ANSWERABLE = [
    "What tasks did Colonel Lương Thanh Bình assign?",
    "Đại tá Lương Thanh Bình yêu cầu đơn vị thực hiện những nhiệm vụ gì?",
    "dai ta luong thanh binh yeu cau thuc hien nhiem vu gi",
    "Ai trao giấy khen cho các tập thể?",
    "Messi có áo đấu của Ronaldo không?",
    "Vụ cháy ở Cần Thơ do nguyên nhân gì?",
    "What caused the fire in Can Tho?",
    "Who did the US shoot down in Syria?",
    "Bao nhiêu ma túy bị tiêu hủy ở Bình Dương?",
    "How many kilograms of drugs were destroyed in Binh Duong?",
]
UNANSWERABLE = [
    "Giá vàng hôm nay bao nhiêu?",
    "What is the capital of France?",
    "Công thức nấu phở bò",
    "Ai là thủ tướng Nhật Bản năm 1990?",
    "How do I bake sourdough bread?",
    "asdkjh qwe zxc",
    "Thời tiết Đà Lạt tuần sau thế nào?",
    "Who won the 2018 World Cup final?",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path)
    args = ap.parse_args()
    qa = NewsQA(Settings.from_env(index_dir=args.index))
    idx = qa.index()
    retriever = Retriever(idx, qa.embedder)
    answerer = ExtractiveAnswerer(qa.embedder, idx.lexical)
    for label, questions in (("answerable", ANSWERABLE), ("unanswerable", UNANSWERABLE)):
        print(f"== {label}")
        for q in questions:
            qv = qa.embedder.encode_queries([q])[0]
            got = retriever.retrieve(SearchRequest(q, 5, 2), qv)
            arts = idx.db.articles(h.article_id for h in got.hits)
            lang = detect_language(q)
            ranked = answerer.score(q, qv, answerer.candidates(got.hits, arts), lang=lang)
            b = ranked[0]
            print(f"  dense={b.dense:.3f} overlap={b.overlap:.2f} gap={got.dense_gap:.3f} lang={lang} "
                  f"pass={answerer.relevant(b, lang, got.dense_gap)}  {q[:50]!r} -> {b.candidate.text[:50]!r}")


if __name__ == "__main__":
    main()
