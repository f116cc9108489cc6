"""User-facing strings in Vietnamese and English."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "empty_question": {
        "vi": "Vui lòng nhập câu hỏi.",
        "en": "Please type a question.",
    },
    "too_long": {
        "vi": "Câu hỏi quá dài ({n} ký tự; tối đa {limit}). Hãy rút gọn câu hỏi.",
        "en": "The question is too long ({n} characters; the limit is {limit}). Please shorten it.",
    },
    "not_found": {
        "vi": "Xin lỗi, tôi không tìm thấy thông tin liên quan trong các bài báo hiện có.",
        "en": "Sorry, I could not find relevant information in the indexed news articles.",
    },
    "no_index": {
        "vi": "Chưa có chỉ mục. Hãy dựng chỉ mục trước (newsqa index build).",
        "en": "There is no index yet. Build it first (newsqa index build).",
    },
    "date_filter": {
        "vi": "Chỉ tìm trong các bài đăng từ {start} đến {end} (“{expression}”).",
        "en": "Searching only articles published from {start} to {end} (“{expression}”).",
    },
    "llm_failed": {
        "vi": "Không dùng được mô hình ngôn ngữ ({reason}); đây là câu trả lời trích từ bài báo.",
        "en": "The language model could not answer ({reason}); here is the answer quoted from the articles.",
    },
    "llm_not_configured": {
        "vi": "Chưa cấu hình mô hình ngôn ngữ (NEWSQA_LLM_BASE_URL, NEWSQA_LLM_MODEL); đây là câu trả lời trích dẫn.",
        "en": "No language model is configured (NEWSQA_LLM_BASE_URL, NEWSQA_LLM_MODEL); here is the quoted answer.",
    },
    "answer_intro": {
        "vi": "Theo các bài báo:",
        "en": "According to the news articles (quoted in Vietnamese):",
    },
}


def msg(key: str, lang: str, **kwargs: object) -> str:
    table = MESSAGES[key]
    return table.get(lang, table["en"]).format(**kwargs)
