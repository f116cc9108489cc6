"""The URL fetcher against hostile servers: a decompression bomb, a server that trickles bytes to
hold the fetch open, DNS answers that change between the check and the connection, and IPv6
addresses that lead back into IPv4 space. Real HTTP on loopback servers the tests start."""

from __future__ import annotations

import gzip
import socket
import time
import tracemalloc
import zlib
from http.server import BaseHTTPRequestHandler

import pytest

from assistant.errors import InputError
from assistant.fetcher import check_url, fetch
from assistant.settings import Settings
from tests.helpers import LoopbackServer

PINNED_HOST = "newsqa-pinned.test"
PAGE = "<html><body><p>Tin đã tải</p></body></html>".encode()


def gzip_of_zeros(size: int) -> bytes:
    """gzip of `size` zero bytes, built a megabyte at a time so the test itself never holds them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [packer.compress(block) for _ in range(size >> 20)]
    return b"".join(parts) + packer.flush()


BOMB = gzip.compress(gzip_of_zeros(200 << 20))  # "gzip, gzip": a few hundred bytes, 200 MB inflated


class HostileServer(LoopbackServer):
    def __init__(self) -> None:
        server = self
        self.hosts: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.hosts.append(self.headers.get("Host", ""))
                try:
                    self.route()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def route(self):
                if self.path == "/bomb":
                    return self.send(BOMB, {"Content-Encoding": "gzip, gzip"})
                if self.path == "/gzipped":
                    return self.send(gzip.compress(PAGE), {"Content-Encoding": "gzip"})
                if self.path == "/brotli":
                    return self.send(b"\x1b\x00\x00\x00", {"Content-Encoding": "br"})
                if self.path == "/page":
                    return self.send(PAGE, {})
                if self.path == "/bad-redirect":  # a Location no URL parser accepts
                    self.send_response(302)
                    self.send_header("Location", "http://a]b/")
                    self.send_header("Content-Length", "0")
                    return self.end_headers()
                if self.path == "/trickle-body":
                    self.send_response(200)
                    self.send_header("Content-Length", "40")
                    self.end_headers()
                    return self.trickle(b"x" * 40)
                if self.path == "/trickle-headers":
                    return self.trickle(b"HTTP/1.0 200 OK\r\nX-Padding: " + b"y" * 40 + b"\r\n\r\n")
                if self.path.startswith("/hop"):
                    time.sleep(0.4)
                    self.send_response(302)
                    self.send_header("Location", f"/hop{int(self.path[4:] or 0) + 1}")
                    self.send_header("Content-Length", "0")
                    return self.end_headers()
                return self.send(b"not found", {}, 404)

            def send(self, data: bytes, headers: dict[str, str], status: int = 200) -> None:
                self.send_response(status)
                for name, value in {"Content-Type": "text/html; charset=utf-8", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def trickle(self, data: bytes) -> None:
                for i in range(len(data)):  # ~12 s at one byte per 0.3 s
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    time.sleep(0.3)

        super().__init__(Handler)


@pytest.fixture(scope="module")
def server():
    with HostileServer() as running:
        yield running


def settings(**changes) -> Settings:
    return Settings(fetch_allow_private="127.0.0.1", fetch_timeout=5.0, max_upload_mb=1.0).with_(**changes)


def test_stacked_gzip_bomb_is_refused_without_inflating_it(server):
    assert len(BOMB) < 4096
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as err:
            fetch(f"{server.base}/bomb", settings())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "larger than the limit of 1 MB" in str(err.value), str(err.value)
    assert "lớn hơn giới hạn" in err.value.message("vi")
    assert peak < 32 << 20, f"peak traced memory {peak / 2**20:.0f} MB"


def test_gzip_sent_anyway_is_still_decoded(server):
    page = fetch(f"{server.base}/gzipped", settings())
    assert page.content == PAGE and page.content_type.startswith("text/html")


def test_an_encoding_that_cannot_be_bounded_is_refused(server):
    with pytest.raises(InputError) as err:
        fetch(f"{server.base}/brotli", settings())
    assert "compressed as 'br', which is not accepted" in str(err.value), str(err.value)
    assert "không được chấp nhận" in err.value.message("vi")


@pytest.mark.parametrize("path", ["/trickle-body", "/trickle-headers", "/hop"])
def test_the_timeout_covers_the_whole_fetch(server, path):
    """A byte every 0.3 s never trips a 1 s timeout per read, and six 0.4 s redirect hops none
    either; the whole fetch must still end after about 1 s."""
    started = time.monotonic()
    with pytest.raises(InputError) as err:
        fetch(f"{server.base}{path}", settings(fetch_timeout=1.0))
    elapsed = time.monotonic() - started
    assert "no answer within 1 s" in str(err.value), str(err.value)
    assert "giây" in err.value.message("vi")
    assert elapsed < 2.0, f"took {elapsed:.1f} s"


def test_the_connection_goes_to_the_address_that_was_checked(server, monkeypatch):
    """A name that resolves to the vetted address once and elsewhere afterwards (DNS rebinding):
    the fetch must look the name up once and connect there, keeping the name in the Host header."""
    real = socket.getaddrinfo
    lookups = []

    def rebinding(host, port, *args, **kwargs):
        if host != PINNED_HOST:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "127.0.0.2"  # nothing listens on .2
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = f"http://{PINNED_HOST}:{server.port}/page"
    page = fetch(url, settings(fetch_allow_private=PINNED_HOST))
    assert page.content == PAGE and page.url == url
    assert lookups == [PINNED_HOST]
    assert server.hosts[-1] == f"{PINNED_HOST}:{server.port}"


@pytest.mark.parametrize("url", [
    "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
    "http://[64:ff9b:1::a00:1]/",  # local-use NAT64 of 10.0.0.1
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://[2002:a9fe:a9fe::1]/",  # 6to4 of the cloud metadata address
    "http://[::7f00:1]/",  # IPv4-compatible 127.0.0.1
    "http://[::ffff:169.254.169.254]/",  # IPv4-mapped
    "http://[2001::1]/",  # Teredo
])
def test_ipv6_ways_back_into_ipv4_are_refused(url):
    with pytest.raises(InputError) as err:
        check_url(url, Settings())
    assert "non-public address" in str(err.value), str(err.value)
    assert "không công khai" in err.value.message("vi")


def test_a_redirect_to_a_malformed_url_is_refused_with_a_message(server):
    with pytest.raises(InputError) as err:
        fetch(f"{server.base}/bad-redirect", settings())
    assert "http://" in err.value.message("vi")


@pytest.mark.parametrize("url", ["http://[::1", "http://\u2100.vn/"])
def test_a_malformed_url_is_refused_with_a_message(url):
    with pytest.raises(InputError) as err:
        check_url(url, Settings())
    assert "http://" in err.value.message("vi")


@pytest.mark.parametrize("url", ["http://8.8.8.8/", "http://[::ffff:8.8.8.8]/", "https://[2001:4860:4860::8888]/"])
def test_public_addresses_still_pass(url):
    check_url(url, Settings())
