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
    "date_filter": {
        "vi": "Chỉ tìm trong các bài đăng từ {start} đến {end} (“{expression}”).",
        "en": "Searching only articles published from {start} to {end} (“{expression}”).",
    },
    "date_fallback": {
        "vi": "Không có bài phù hợp đăng từ {start} đến {end} (“{expression}”); {holdings}. "
              "Đã tìm trong toàn bộ chỉ mục: kết quả dưới đây nằm ngoài khoảng thời gian đó.",
        "en": "No matching article was published from {start} to {end} (“{expression}”); {holdings}. "
              "Searched the whole index instead: the results below lie outside that period.",
    },
    "date_empty": {
        "vi": "Không có bài nào {period} phù hợp với câu hỏi; {holdings}.",
        "en": "No article {period} matches the question; {holdings}.",
    },
    "period_range": {
        "vi": "đăng từ {start} đến {end}",
        "en": "published from {start} to {end}",
    },
    "period_from": {
        "vi": "đăng từ {start} trở về sau",
        "en": "published on or after {start}",
    },
    "period_to": {
        "vi": "đăng đến hết {end}",
        "en": "published up to {end}",
    },
    "index_dated": {
        "vi": "bài mới nhất trong chỉ mục đăng ngày {newest} ({dated}/{total} bài có ngày đăng, cũ nhất ngày {oldest})",
        "en": "the newest article in the index is dated {newest} ({dated} of {total} articles are dated, "
              "the oldest {oldest})",
    },
    "index_undated": {
        "vi": "cả {total} bài trong chỉ mục đều không có ngày đăng",
        "en": "none of the {total} articles in the index has a publication date",
    },
    "index_empty": {
        "vi": "chỉ mục chưa có bài nào",
        "en": "the index holds no articles",
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
