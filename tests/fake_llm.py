"""A small local HTTP server speaking the OpenAI chat-completions protocol, for tests only: the
LLM server is the one edge of the product we do not own."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler

from tests.helpers import LoopbackServer


class FakeLLM(LoopbackServer):
    """mode: "ok" (answer `reply`, streamed when asked), "error" (HTTP 500), "slow" (sleep
    `delay` seconds first), "empty" (no content). A follow-up rewrite request (its system prompt
    asks for a standalone question) gets `rewrite_reply`, or the last message unchanged when None."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.reply = ""
        self.delay = 3.0
        self.rewrite_reply: str | None = None
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                fake.requests.append(body)
                if not self.path.endswith("/chat/completions"):
                    return self._json(404, {"error": {"message": "not found"}})
                if fake.mode == "error":
                    return self._json(500, {"error": {"message": "model crashed", "type": "server_error"}})
                if fake.mode == "slow":
                    time.sleep(fake.delay)
                text = "" if fake.mode == "empty" else fake.reply
                system = (body.get("messages") or [{}])[0].get("content", "")
                if "standalone" in system:
                    last = body["messages"][-1]["content"].rsplit("Last message: ", 1)[-1]
                    text = fake.rewrite_reply if fake.rewrite_reply is not None else last
                if body.get("stream"):
                    return self._stream(body.get("model", ""), text)
                return self._json(200, {
                    "id": "cmpl-1", "object": "chat.completion", "created": 0, "model": body.get("model", ""),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                })

            def _json(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, model: str, text: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                words = text.split(" ")
                for i, word in enumerate(words):
                    piece = word if i == len(words) - 1 else word + " "
                    chunk = {"id": "cmpl-1", "object": "chat.completion.chunk", "created": 0, "model": model,
                             "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        super().__init__(Handler)
        self.url = f"{self.base}/v1"
