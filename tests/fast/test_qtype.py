"""What a question asks for, and the sentence that holds it."""

from __future__ import annotations

import pytest

from assistant.qtype import Kind, anchor_runs, asked_kind, holds_kind, named_words, news_topic


@pytest.mark.parametrize("question,kind", [
    ("Sư đoàn 346 ứng dụng bao nhiêu phần mềm?", Kind.NUMBER),
    ("su doan 346 ung dung bao nhieu phan mem", Kind.NUMBER),
    ("Hội nghị diễn ra khi nào?", Kind.NUMBER),
    ("Có mấy đơn vị tham gia?", Kind.NUMBER),
    ("How many initiatives did the division research?", Kind.NUMBER),
    ("Ai trao giấy khen?", Kind.NAME),
    ("Who presented the certificates?", Kind.NAME),
    ("Đại tá yêu cầu đơn vị làm gì?", None),
    ("What may the unit do next?", None),  # English "may" is not the Vietnamese "mấy"
    ("Who was the coach when the team won?", Kind.NAME),  # the first phrase decides
    ("Động lực nào thúc đẩy tăng trưởng?", None),  # "lực nào" is not "lúc nào"
    ("Chiến thắng nào quan trọng nhất?", None),
    ("Tổng thống Ai Cập đã làm gì?", None),  # Egypt, not "who"
    ("What did the AI model predict?", None),
    ("Ai cập nhật dữ liệu?", Kind.NAME),  # "who updated", not Egypt
    ("WHO khuyến cáo gì?", None),  # the World Health Organization
])
def test_asked_kind(question, kind):
    assert asked_kind(question) is kind


def test_a_sentence_holds_the_kind_only_with_something_new():
    q = "Năm 2022 sư đoàn ứng dụng bao nhiêu phần mềm?"
    assert holds_kind(Kind.NUMBER, q, "Năm 2022, sư đoàn ứng dụng 5 phần mềm quản lý.")
    assert not holds_kind(Kind.NUMBER, q, "Năm 2022, sư đoàn ứng dụng phần mềm quản lý.")
    who = "Ai trao giấy khen cho Sư đoàn 346?"
    assert holds_kind(Kind.NAME, who, "Đại tá Lương Thanh Bình trao giấy khen.")
    assert not holds_kind(Kind.NAME, who, "Giấy khen được trao cho Sư đoàn 346.")
    assert not holds_kind(None, who, "Đại tá Lương Thanh Bình trao giấy khen.")


def test_named_words_are_names_past_the_first_word_and_numbers():
    assert named_words("When did Division 346 hold the conference?") == ["Division", "346"]
    assert named_words("Ai trao giấy khen?") == []
    assert named_words("Ai phát biểu? Ông ấy yêu cầu gì?") == []  # a follow-up's joined questions


def test_anchors_are_what_vietnamese_text_can_hold_of_an_english_question():
    assert anchor_runs("What tasks did Colonel Lương Thanh Bình assign?") == [["Colonel", "Lương", "Thanh", "Bình"]]
    assert anchor_runs("How many people lived in Warsaw in 1944?") == [["Warsaw"], ["1944"]]
    assert anchor_runs("when did the trận lũ happen") == [["trận", "lũ"]]  # a Vietnamese word, lowercase
    assert anchor_runs("what is the capital") == []


def test_anchor_runs_are_the_anchors_adjacent_in_the_question():
    assert anchor_runs("Who met Nguyễn Văn An in Hà Nội in 2022?") == [["Nguyễn", "Văn", "An"], ["Hà", "Nội"], ["2022"]]
    # A sentence's first word is a name unless it is a common English word.
    assert anchor_runs("Luong Thanh Binh: what position does he hold?") == [["Luong", "Thanh", "Binh"]]
    assert anchor_runs("What position does he hold?") == []


@pytest.mark.parametrize("message, topic", [
    ("Tin tức về giá xăng", "giá xăng"),
    ("tin tuc ve gia xang?", "gia xang"),
    ("Cho tôi xem các bài viết về bão Yagi", "bão Yagi"),
    ("Có tin gì mới về giá vàng", "giá vàng"),
    ("Tin nóng về bão", "bão"),
    ("Tin tức liên quan đến bão Yagi", "bão Yagi"),
    ("Latest news on floods", "floods"),
    ("news about Lương Thanh Bình", "Lương Thanh Bình"),
    # Words that only look like question words: oil, a star, the air force, Egypt.
    ("Tin tức về giá dầu", "giá dầu"),
    ("tin tuc ve gia dau", "gia dau"),
    ("Tin tức về ngôi sao bóng đá", "ngôi sao bóng đá"),
    ("Tin tức về không quân Mỹ", "không quân Mỹ"),
    ("Tin tức về Ai Cập", "Ai Cập"),
    ("tin tuc ve ai cap", "ai cap"),
    ("news about AI", "AI"),
    ("News about WHO", "WHO"),  # the World Health Organization, not "who"
    ("Tin tức về WHO", "WHO"),
    ("Tin tức về hàng không", "hàng không"),
    # Questions, and words that start like a request but are not one.
    ("Giá xăng tuần trước tăng bao nhiêu?", None),
    ("Tác giả nào đã viết điều đó trong bài viết của mình?", None),
    ("Tin tức về vụ án ở Hà Nội diễn ra khi nào?", None),
    ("Tin tức về giá xăng có tăng không?", None),
    ("tin tuc ve gia vang the nao", None),
    ("Tin tức về vụ tai nạn có ai bị thương?", None),
    ("Tin tức về giá xăng đã giảm chưa", None),
    ("Tin tức về vụ án lúc mấy giờ?", None),
    ("Bài báo nào nói về hợp tác xã Hoa Sen?", None),
    ("What is the news about gold?", None),
    ("News about who won the election", None),
    ("Tin tặc đã tấn công những ngân hàng nào?", None),
    ("Tín hiệu 5G có hại không?", None),
    ("Tin vui cho nông dân trồng vải", None),
    ("Tin rằng ông ấy đúng không?", None),
    ("Tin học là gì?", None),
    ("Newsweek là tạp chí gì?", None),
    ("Tin tức", None),
    ("Tin,", None),
])
def test_a_request_for_news_is_told_from_a_question_by_its_opening(message, topic):
    assert news_topic(message) == topic


def test_the_period_a_news_request_names_is_not_part_of_its_topic():
    assert news_topic("Tin tức tuần trước về giá xăng", "tuần trước") == "giá xăng"
    assert news_topic("News last week about floods", "last week") == "floods"
