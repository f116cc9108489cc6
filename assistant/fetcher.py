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

from assistant.errors import InputError, Msg
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
    status: int = 200  # 304: not modified since the validators sent (content is empty)
    etag: str = ""
    last_modified: str = ""
    moved_to: str = ""  # where permanent redirects (301, 308) from the first hop on led, if any


def _refuse(url: str, reason: str, **params: object) -> InputError:
    """"Cannot fetch URL: <reason>", the reason a catalog key with its parameters."""
    return InputError("fetch_failed", url=url, reason=Msg(reason, **params))


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
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # "http://[::1", a host that NFKC changes
        raise _refuse(url, "fetch_scheme") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse(url, "fetch_scheme")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise _refuse(url, "fetch_unresolved", error=exc) from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    allowed = {h.strip().lower() for h in settings.fetch_allow_private.split(",") if h.strip()}
    if "*" in allowed or parts.hostname.lower() in allowed:
        return addresses
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        if not _is_public(address):
            raise _refuse(url, "fetch_private", address=address)
    return addresses


def fetch(url: str, settings: Settings, etag: str = "", last_modified: str = "",
          user_agent: str = USER_AGENT) -> Fetched:
    """GET `url`, following at most MAX_REDIRECTS redirects, each checked like the first, all within
    settings.fetch_timeout seconds. With `etag`/`last_modified` (validators of an earlier answer)
    the GET is conditional: a 304 comes back as a Fetched with status 304 and no content."""
    limit = int(settings.max_upload_mb * 1024 * 1024)
    current = url.strip()
    backend = _PinnedBackend(time.monotonic() + settings.fetch_timeout)
    # No compression asked for: what arrives anyway is inflated here, a block at a time (httpx
    # would inflate a whole network chunk, which a stacked gzip turns into gigabytes).
    headers = {"User-Agent": user_agent, "Accept-Encoding": "identity"}
    if etag:
        headers["If-None-Match"] = etag[:1000]
    if last_modified:
        headers["If-Modified-Since"] = last_modified[:100]
    moved_to, permanent = "", True
    with httpx.Client(transport=_PinnedTransport(backend), timeout=settings.fetch_timeout,
                      follow_redirects=False, headers=headers) as client:
        for _ in range(MAX_REDIRECTS + 1):
            backend.addresses = check_url(current, settings)
            try:
                with client.stream("GET", current) as resp:
                    if resp.is_redirect and resp.headers.get("location"):
                        try:
                            current = urljoin(current, resp.headers["location"])
                        except ValueError:  # "Location: http://a]b/": the page is nowhere we can go
                            raise _refuse(url, "fetch_scheme") from None
                        permanent = permanent and resp.status_code in (301, 308)
                        moved_to = current if permanent else moved_to
                        continue
                    if resp.status_code == 304 and (etag or last_modified):
                        return Fetched(str(resp.url), b"", resp.headers.get("content-type", ""), 304,
                                       etag, last_modified, moved_to)
                    if resp.status_code >= 400:
                        raise _refuse(url, "fetch_status", status=resp.status_code)
                    declared = int(resp.headers.get("content-length") or 0)
                    if declared > limit:
                        raise _too_big(url, settings)
                    body = bytearray()
                    for block in _decoded(resp, url, limit, settings):
                        body += block
                        if len(body) > limit:
                            raise _too_big(url, settings)
                    return Fetched(str(resp.url), bytes(body), resp.headers.get("content-type", ""),
                                   resp.status_code, resp.headers.get("etag", "")[:1000],
                                   resp.headers.get("last-modified", "")[:100], moved_to)
            except httpx.TimeoutException as exc:
                raise _refuse(url, "fetch_timeout", seconds=settings.fetch_timeout) from exc
            except httpx.HTTPError as exc:
                raise _refuse(url, "fetch_connection", error=f"{type(exc).__name__}: {exc}") from exc
            except zlib.error as exc:
                raise _refuse(url, "fetch_damaged", error=exc) from exc
    raise _refuse(url, "fetch_redirects", n=MAX_REDIRECTS)


def _too_big(url: str, settings: Settings) -> InputError:
    return _refuse(url, "fetch_too_big", limit=settings.max_upload_mb)


def _decoded(resp: httpx.Response, url: str, limit: int, settings: Settings) -> Iterator[bytes]:
    """The body with its Content-Encoding undone lazily, so nothing ever holds more than a block
    beyond what the caller has accepted."""
    chunks: Iterable[bytes] = _capped(resp, limit, url, settings)
    for coding in reversed(resp.headers.get_list("content-encoding", split_commas=True)):
        coding = coding.strip().lower()
        if coding in ("gzip", "x-gzip", "deflate"):
            chunks = _inflate(chunks)
        elif coding not in ("", "identity"):
            raise _refuse(url, "fetch_encoding", coding=coding)
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
