"""HTTP-level protections for the whole server (JSON API and Gradio routes alike), as plain ASGI
middleware so that they run before any route reads a byte: body limits counted on the bytes
received (a declared Content-Length is not trusted), a Host check against DNS rebinding, and
security headers (Content-Security-Policy) on every response."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)

# Gradio's page runs inline bootstrap scripts and styles, so those stay allowed; everything else is
# same-origin only. What this blocks if an escape is ever missed: external images and fetches (which
# would leak questions), form posts elsewhere, plugins, framing by other sites, <base> hijacks.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; media-src 'self' blob:; connect-src 'self'; "
       "frame-ancestors 'self'; form-action 'self'; base-uri 'self'; object-src 'none'")
# FastAPI's Swagger page (/api/docs) loads its script and styles from this CDN; that page alone may.
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_CSP = CSP.replace("script-src 'self'", f"script-src 'self' {DOCS_CDN}").replace(
    "style-src 'self'", f"style-src 'self' {DOCS_CDN}")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"SAMEORIGIN"),
]
BODY_METHODS = ("POST", "PUT", "PATCH")


def redact(text: str, settings) -> str:
    """Messages name files; a web client is told which store, not where it lives on the server."""
    for folder, name in ((settings.index_dir, "<index>"), (settings.corpus_dir, "<corpus>"),
                         (settings.model_cache_dir, "<model cache>")):
        text = text.replace(str(Path(folder).resolve()), name).replace(str(folder), name)
    return text


async def _reply(send, status: int, message: str, headers: list | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        csp = (DOCS_CSP if scope["path"] == "/api/docs" else CSP).encode()

        async def with_headers(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                ours = [(b"content-security-policy", csp), *SECURITY_HEADERS]
                message["headers"] = [*message.get("headers", []), *((k, v) for k, v in ours if k not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyLimit:
    """Reads a request's body before the app does, counting bytes as they arrive, and answers 413
    past the limit of its path (`limits`: path prefix -> bytes, longest prefix first; else
    `default`). A request with both Content-Length and Transfer-Encoding (a smuggling shape) is
    refused; `require_length` prefixes refuse a body of unstated size (411). The whole body must
    arrive within `seconds` (408 after): a sender trickling bytes holds its buffer that long at most."""

    def __init__(self, app, default: int, limits: dict[str, int] | None = None,
                 require_length: tuple[str, ...] = (), seconds: float = 30.0) -> None:
        self.app = app
        self.seconds = seconds
        self.default = default
        self.limits = sorted((limits or {}).items(), key=lambda kv: -len(kv[0]))
        self.require_length = require_length

    def limit(self, path: str) -> int:
        return next((n for prefix, n in self.limits if path.startswith(prefix)), self.default)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            return await self.app(scope, receive, send)
        path = scope["path"]
        headers = {k.lower(): v for k, v in scope["headers"]}
        declared = headers.get(b"content-length")
        limit = self.limit(path)
        if declared is not None and b"transfer-encoding" in headers:
            return await _reply(send, 400, "Content-Length and Transfer-Encoding together are not accepted.")
        if declared is None and path.startswith(self.require_length):
            return await _reply(send, 411, "A Content-Length header is required.")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _reply(send, 413, f"Request body over {limit} bytes.")
        chunks, size = [], 0
        deadline = asyncio.get_running_loop().time() + self.seconds
        while True:
            try:
                message = await asyncio.wait_for(receive(), deadline - asyncio.get_running_loop().time())
            except TimeoutError:
                return await _reply(send, 408, f"The request body did not arrive within {self.seconds:g} s.")
            if message["type"] != "http.request":
                return  # the client left
            size += len(message.get("body", b""))
            if size > limit:
                log.warning("request body over %d bytes refused: %s", limit, path)
                return await _reply(send, 413, f"Request body over {limit} bytes.")
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # later calls wait for the disconnect, as the app expects

        await self.app(scope, replay, send)
