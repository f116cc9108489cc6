"""Bounds on the LLM client and on what its replies can do (audit item 9): tokens asked, total
seconds and characters per reply, the size of a rewrite request, huge [n] markers, and replies
made inert before they are rendered as Markdown."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler

import pytest

import assistant.llm as llm_mod
from assistant.records import Citation
from assistant.settings import Settings
from tests.fake_llm import FakeLLM
from tests.helpers import LoopbackServer

PASSAGE = Citation(n=1, article_id="a", title="Tin", date=None, url="", source="", score=1.0, text="Nội dung.")


@pytest.fixture
def llm():
    with FakeLLM() as server:
        server.reply = "Trả lời [1]."
        yield server


def answerer(url: str, timeout: float = 5.0) -> llm_mod.LLMAnswerer:
    return llm_mod.LLMAnswerer(Settings(llm_base_url=url, llm_model="fake-model", llm_timeout=timeout))


class OddLLM(LoopbackServer):
    """Answers every request with `body` (bytes, or a list of pieces sent `interval` seconds apart,
    for at most `limit` seconds) under `content_type`: servers that drip, stall, hang up or answer off the
    protocol."""

    def __init__(self, body, content_type: str = "application/json", interval: float = 0.2,
                 limit: float = 20.0, length: int = 0) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                if length:  # more than is sent: the connection closes mid-body
                    self.send_header("Content-Length", str(length))
                self.end_headers()
                stop = time.monotonic() + limit
                try:
                    if isinstance(body, bytes):
                        self.wfile.write(body)
                        return
                    while time.monotonic() < stop:
                        for piece in body:
                            self.wfile.write(piece)
                            self.wfile.flush()
                            time.sleep(interval)
                except OSError:  # the client hung up
                    pass

        super().__init__(Handler)
        self.url = f"{self.base}/v1"


def reply(message: object) -> bytes:
    return json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": "m",
                       "choices": [{"index": 0, "finish_reason": "stop", "message": message}]}).encode()


def chunk(choices: list) -> bytes:
    return b"data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                                   "choices": choices}).encode() + b"\n\n"


def test_every_call_asks_for_a_bounded_number_of_tokens(llm):
    client = answerer(llm.url)
    assert "".join(client.stream("Câu hỏi?", "vi", [PASSAGE])) == "Trả lời [1]."
    assert "".join(client.stream("Câu hỏi?", "vi", [PASSAGE], stream=False)) == "Trả lời [1]."
    client.rewrite("Còn ai nữa?", ["Ai trao giấy khen?"])
    rewrite, answers = llm.requests[-1], llm.requests[:-1]
    assert "standalone" in rewrite["messages"][0]["content"]
    assert all(0 < r.get("max_tokens", 0) <= 512 for r in answers) and len(answers) == 2
    assert 0 < rewrite.get("max_tokens", 0) <= 128


def test_a_trickling_server_is_cut_off_at_the_total_deadline():
    dripping = [chunk([{"index": 0, "delta": {"content": "từ "}, "finish_reason": None}])]
    with OddLLM(dripping, "text/event-stream", interval=0.3, limit=30.0) as server:
        started = time.monotonic()
        pieces = []
        with pytest.raises(llm_mod.LLMError) as err:
            for piece in answerer(server.url, timeout=1.0).stream("Câu hỏi?", "vi", [PASSAGE]):
                pieces.append(piece)
        elapsed = time.monotonic() - started
    assert err.value.reason == "timeout" and "không trả lời kịp" in err.value.message("vi")
    assert elapsed < 3.0 and pieces  # it did stream before the deadline


@pytest.mark.parametrize("body, stream", [
    (b"<html>Bad gateway</html>", False),  # a proxy's page with status 200
    (b"{not json", False),
    (reply({"role": "assistant", "content": 123}), False),
    (reply({"role": "assistant", "content": ["a"]}), False),
    (b'{"choices": [{"index": 0}]}', False),  # no message: read as empty
    (chunk([{"index": 0, "delta": {"content": 7}}]) + b"data: [DONE]\n\n", True),
    (chunk([{"index": 0}]) + b"data: [DONE]\n\n", True),  # no delta: read as empty
    (b"data: {oops\n\n", True),
    (b"[" * 100_000, False),  # nested beyond the parser's recursion limit
    # A failure reported inside a 200 stream, after a first piece: the cut-off answer is no answer.
    (chunk([{"index": 0, "delta": {"content": "partial "}}]) + b'data: {"error": {"type": "overloaded"}}\n\n', True),
    (b'{"error": {"message": "model not loaded", "type": "server_error"}}', False),
])
def test_a_reply_off_the_protocol_is_an_llm_error_not_a_crash(body, stream):
    # These were JSONDecodeError / AttributeError / TypeError: a 500 from /api/ask instead of the extractive
    # answer with a notice.
    with OddLLM(body) as server, pytest.raises(llm_mod.LLMError) as err:
        "".join(answerer(server.url).stream("Câu hỏi?", "vi", [PASSAGE], stream=stream))
    assert err.value.reason in ("malformed", "empty", "other") and err.value.message("vi")


@pytest.mark.parametrize("body", [
    chunk([{"index": 0, "delta": {"content": "a b"}}]).replace(b"\n", b"\r") + b"data: [DONE]\r\r",
    b'data: {"choices": [{"index": 0,\ndata: "delta": {"content": "a b"}}]}\n\ndata: [DONE]\n\n',
])
def test_server_sent_events_in_every_form_the_protocol_allows(body):
    # Lines ending in a bare CR, and an event whose data spans two "data:" lines.
    with OddLLM(body, "text/event-stream") as server:
        assert "".join(answerer(server.url).stream("Câu hỏi?", "vi", [PASSAGE])) == "a b"


@pytest.mark.parametrize("pieces, stream, length, reason", [
    ([chunk([{"index": 0, "delta": {"content": "a "}}])], True, 0, "timeout"),  # stalls after a piece
    ([b'{"choi'], False, 0, "timeout"),
    (b'{"choices": [', False, 1000, "unreachable"),  # the connection closes mid-body
])
def test_a_server_that_stalls_or_hangs_up_mid_body_is_an_llm_error(pieces, stream, length, reason):
    # Raised by the SDK's HTTP client (httpx2) while the body is read, unwrapped: they were a 500.
    with OddLLM(pieces, "text/event-stream" if stream else "application/json", interval=4.0, limit=4.0,
                length=length) as server, pytest.raises(llm_mod.LLMError) as err:
        "".join(answerer(server.url, timeout=1.0).stream("Câu hỏi?", "vi", [PASSAGE], stream=stream))
    assert err.value.reason == reason


@pytest.mark.parametrize("pieces, stream", [
    ([b": ping\n\n"], True),  # keep-alive comments, never a chunk
    ([chunk([])], True),  # chunks without choices
    ([b'{"choi', b"ces", b'": [', b"{"], False),  # a body trickled a few bytes at a time
])
def test_the_total_deadline_holds_whatever_the_server_sends(pieces, stream):
    with OddLLM(pieces, "text/event-stream" if stream else "application/json", interval=0.2) as server:
        started = time.monotonic()
        with pytest.raises(llm_mod.LLMError) as err:
            "".join(answerer(server.url, timeout=1.0).stream("Câu hỏi?", "vi", [PASSAGE], stream=stream))
        elapsed = time.monotonic() - started
    assert err.value.reason == "timeout" and elapsed < 3.0, elapsed


@pytest.mark.parametrize("stream", [True, False])
def test_a_reply_is_capped_in_characters(llm, stream):
    llm.server.handle_error = lambda *args: None  # the client hanging up mid-stream is the point
    llm.reply = "từ " * 5000  # 15,000 characters
    text = "".join(answerer(llm.url).stream("Câu hỏi?", "vi", [PASSAGE], stream=stream))
    assert 7000 <= len(text) <= 8000 and text.startswith("từ từ")


def test_rewrite_sends_bounded_history_and_message(llm):
    llm.rewrite_reply = "Ai trao giấy khen năm 2024?"
    huge = ["Ai trao giấy khen " + "rất " * 30_000 for _ in range(5)]
    assert answerer(llm.url).rewrite("Còn " + "nữa " * 20_000, huge) == llm.rewrite_reply
    body = json.dumps(llm.requests[-1], ensure_ascii=False)
    user = llm.requests[-1]["messages"][1]["content"]
    assert len(body) < 6000, len(body)
    assert user.count("- Ai trao giấy khen") == 3
    assert "Last message: Còn nữa" in user


def test_huge_markers_neither_raise_nor_count():
    text = "x [" + "9" * 5000 + "] y [1]"
    cleaned = llm_mod.clean_markers(text, {1})
    assert cleaned.endswith("y [1]") and "9" * 5000 in cleaned
    assert llm_mod.cited(text) == {1}


EVIL = (
    "Answer [1] [7].\n"
    "![x](https://evil.example/?q=secret)\n"
    "<img src=https://evil.example/a>\n"
    "<script>alert(1)</script>\n"
    "[click](javascript:alert(1))\n"
    "<https://evil.example/auto>\n"
    "![1]\n\n[1]: https://evil.example/ref\n"
    "[1](https://evil.example/marker) and ![t][1] and \\![y](https://evil.example/b)\n"
    "See https://evil.example/bare and www.evil.example.\n"
)


def safe_reply(text: str, valid: set[int]) -> str:
    """What the chat shows of a reply: unknown markers removed, the rest rendered inert."""
    from assistant.markup import md_answer

    return md_answer(llm_mod.clean_markers(text, valid))


def test_safe_reply_renders_as_plain_text():
    from markdown_it import MarkdownIt

    safe = safe_reply(EVIL, {1})
    out = MarkdownIt("commonmark").render(safe)
    assert "<img" not in out and "<script" not in out and "<a " not in out and "href" not in out, out
    assert "Answer [1]." in out and "[7]" not in out and "https://evil.example/?q=secret" in out
    assert "&lt;script&gt;" in out and safe.count("\n") == EVIL.strip().count("\n")
    # Bare URLs stay text for GFM renderers too (Gradio's), which link "https://" and "www." by themselves.
    assert safe.count("://") == safe.count("\\://") and "www." not in safe


def test_safe_reply_keeps_plain_answers():
    assert safe_reply("Answer [1].", {1}) == "Answer [1]."
    text = "Sư đoàn 346 tổ chức hội nghị [1].\nĐại tá Lương Thanh Bình trao giấy khen [2] [5]."
    # Line breaks are kept as Markdown hard breaks.
    assert safe_reply(text, {1, 2}) == text.replace(" [5]", "").replace("\n", "  \n")


def test_one_event_is_bounded_even_when_it_arrives_in_one_read_and_long_lines_cost_linear_time():
    def events(reads):
        return list(llm_mod._sse_data(iter(reads)))

    with pytest.raises(llm_mod.LLMError):
        events([b"data: " + b"x" * (llm_mod.MAX_BODY_BYTES + 10) + b"\n\n"])
    line = b"data: " + b"x" * 500_000 + b"\n\n"
    started = time.monotonic()  # re-splitting the pending line on every 1-byte read took minutes
    assert events([line[i:i + 1] for i in range(len(line))]) == [b"x" * 500_000]
    assert time.monotonic() - started < 10
