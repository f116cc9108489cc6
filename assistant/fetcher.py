"""Fetching article pages and feeds for the operator, without becoming a way into the server's
network: http(s) only, every address (and every redirect hop) checked against loopback, private,
link-local and other non-public ranges and then connected to as checked, a size cap on what is
downloaded and on what it decompresses to, and one time limit for the whole fetch."""

from __future__ import annotations

import ipaddress
import socket
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from assistant.errors import InputError
from assistant.settings import Settings

MAX_REDIRECTS = 5
USER_AGENT = "newsqa/0.1 (+article import)"
BLOCK = 64 * 1024  # the most one decompression step may produce
# Ranges that Python 3.11's `is_global` passes but that reach IPv4 space (possibly the server's own
# network) through a translator or tunnel, or are deprecated IPv4-compatible forms.
TRANSLATED = [ipaddress.ip_network(n) for n in
              ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32", "::/96")]


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    content: bytes
    content_type: str


def _refuse(url: str, en: str, vi: str) -> InputError:
    return InputError(f"Cannot fetch {url}: {en}", f"Không tải được {url}: {vi}")


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return _is_public(address.ipv4_mapped)
        if any(address in net for net in TRANSLATED):
            return False
    return address.is_global and not address.is_multicast


def check_url(url: str, settings: Settings) -> list[str]:
    """Raise InputError unless `url` is http(s) and every address its host resolves to is public,
    or the host is listed in NEWSQA_FETCH_ALLOW_PRIVATE ("*" allows every host). Returns those
    addresses: `fetch` connects to them and never resolves the name again, so a second DNS answer
    (rebinding) cannot send it elsewhere."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse(url, "only http:// and https:// addresses are accepted.",
                      "chỉ chấp nhận địa chỉ http:// và https://.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise _refuse(url, f"the host name does not resolve ({exc}).", "không phân giải được tên máy chủ.") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    allowed = {h.strip().lower() for h in settings.fetch_allow_private.split(",") if h.strip()}
    if "*" in allowed or parts.hostname.lower() in allowed:
        return addresses
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        if not _is_public(address):
            raise _refuse(url, f"it points to a non-public address ({address}); add the host to "
                               "NEWSQA_FETCH_ALLOW_PRIVATE to allow it.", f"địa chỉ không công khai ({address}).")
    return addresses


def fetch(url: str, settings: Settings) -> Fetched:
    """GET `url`, following at most MAX_REDIRECTS redirects, each checked like the first, all within
    settings.fetch_timeout seconds."""
    limit = int(settings.max_upload_mb * 1024 * 1024)
    current = url.strip()
    backend = _PinnedBackend(time.monotonic() + settings.fetch_timeout)
    # No compression asked for: what arrives anyway is inflated here, a block at a time (httpx
    # would inflate a whole network chunk, which a stacked gzip turns into gigabytes).
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    with httpx.Client(transport=_PinnedTransport(backend), timeout=settings.fetch_timeout,
                      follow_redirects=False, headers=headers) as client:
        for _ in range(MAX_REDIRECTS + 1):
            backend.addresses = check_url(current, settings)
            try:
                with client.stream("GET", current) as resp:
                    if resp.is_redirect and resp.headers.get("location"):
                        current = urljoin(current, resp.headers["location"])
                        continue
                    if resp.status_code >= 400:
                        raise _refuse(url, f"the server answered {resp.status_code}.",
                                      f"máy chủ trả lời mã {resp.status_code}.")
                    declared = int(resp.headers.get("content-length") or 0)
                    if declared > limit:
                        raise _too_big(url, settings)
                    body = bytearray()
                    for block in _decoded(resp, url, limit, settings):
                        body += block
                        if len(body) > limit:
                            raise _too_big(url, settings)
                    return Fetched(str(resp.url), bytes(body), resp.headers.get("content-type", ""))
            except httpx.TimeoutException as exc:
                raise _refuse(url, f"no answer within {settings.fetch_timeout:g} s (NEWSQA_FETCH_TIMEOUT, "
                                   "for the whole download).",
                              f"máy chủ không trả lời xong trong {settings.fetch_timeout:g} giây.") from exc
            except httpx.HTTPError as exc:
                raise _refuse(url, f"{type(exc).__name__}: {exc}", "lỗi kết nối.") from exc
            except zlib.error as exc:
                raise _refuse(url, f"the compressed body is damaged ({exc}).", "dữ liệu nén bị hỏng.") from exc
    raise _refuse(url, f"more than {MAX_REDIRECTS} redirects.", f"chuyển hướng quá {MAX_REDIRECTS} lần.")


def _too_big(url: str, settings: Settings) -> InputError:
    return _refuse(url, f"larger than the limit of {settings.max_upload_mb:g} MB (NEWSQA_MAX_UPLOAD_MB).",
                   f"lớn hơn giới hạn {settings.max_upload_mb:g} MB.")


def _decoded(resp: httpx.Response, url: str, limit: int, settings: Settings) -> Iterator[bytes]:
    """The body with its Content-Encoding undone lazily, so nothing ever holds more than a block
    beyond what the caller has accepted."""
    chunks: Iterable[bytes] = _capped(resp, limit, url, settings)
    for coding in reversed(resp.headers.get_list("content-encoding", split_commas=True)):
        coding = coding.strip().lower()
        if coding in ("gzip", "x-gzip", "deflate"):
            chunks = _inflate(chunks)
        elif coding not in ("", "identity"):
            raise _refuse(url, f"the server sent a body compressed as '{coding}', which is not accepted.",
                          f"máy chủ gửi dữ liệu nén kiểu '{coding}', không được chấp nhận.")
    return iter(chunks)


def _capped(resp: httpx.Response, limit: int, url: str, settings: Settings) -> Iterator[bytes]:
    # Compressed input can inflate to nothing (empty deflate blocks), so it is capped on its own too.
    for chunk in resp.iter_raw():
        if resp.num_bytes_downloaded > limit:
            raise _too_big(url, settings)
        yield chunk


def _inflate(chunks: Iterable[bytes]) -> Iterator[bytes]:
    inflater = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header ("deflate" per RFC 9110)
    for chunk in chunks:
        while chunk:
            out = inflater.decompress(chunk, BLOCK)
            chunk = inflater.unconsumed_tail
            if out:
                yield out


class _PinnedBackend(httpcore.NetworkBackend):
    """httpcore's network layer for one fetch: connects only to the addresses check_url vetted for
    the current hop, and gives no socket operation more time than is left of the fetch."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.addresses: list[str] = []

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable | None = None) -> httpcore.NetworkStream:
        error: Exception = httpcore.ConnectError(f"no vetted address for {host}")
        for address in self.addresses:
            try:
                stream = httpcore.SyncBackend().connect_tcp(address, port, _left(self.deadline, timeout),
                                                            local_address, socket_options)
                return _DeadlineStream(stream, self.deadline)
            except httpcore.ConnectError as exc:
                error = exc
        raise error

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable | None = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")


class _DeadlineStream(httpcore.NetworkStream):
    # Timeouts are per read: a server trickling a byte at a time would never hit one.
    def __init__(self, stream: httpcore.NetworkStream, deadline: float) -> None:
        self.stream = stream
        self.deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, _left(self.deadline, timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, _left(self.deadline, timeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self.stream.start_tls(ssl_context, server_hostname, _left(self.deadline, timeout)),
                               self.deadline)

    def get_extra_info(self, info: str):
        return self.stream.get_extra_info(info)


def _left(deadline: float, timeout: float | None) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.TimeoutException("the time for the whole fetch is up")
    return left if timeout is None else min(timeout, left)


class _PinnedTransport(httpx.HTTPTransport):
    """httpx's transport over a _PinnedBackend. httpx takes no network backend, so its connection
    pool is replaced by an equivalent one that has ours; the request keeps its host name, hence
    the Host header and TLS (SNI, certificate check) stay those of the name."""

    def __init__(self, backend: _PinnedBackend) -> None:
        super().__init__()
        self._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(), network_backend=backend)
