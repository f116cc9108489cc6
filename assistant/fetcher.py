"""Fetching article pages and feeds for the operator, without becoming a way into the server's
network: http(s) only, every address (and every redirect hop) checked against loopback, private,
link-local and other non-public ranges, a size cap and a time limit."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from assistant.errors import InputError
from assistant.settings import Settings

MAX_REDIRECTS = 5
USER_AGENT = "newsqa/0.1 (+article import)"


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    content: bytes
    content_type: str


def _refuse(url: str, en: str, vi: str) -> InputError:
    return InputError(f"Cannot fetch {url}: {en}", f"Không tải được {url}: {vi}")


def check_url(url: str, settings: Settings) -> None:
    """Raise InputError unless `url` is http(s) and every address its host resolves to is public,
    or the host is listed in NEWSQA_FETCH_ALLOW_PRIVATE ("*" allows every host)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse(url, "only http:// and https:// addresses are accepted.",
                      "chỉ chấp nhận địa chỉ http:// và https://.")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError) as exc:
        raise _refuse(url, f"the host name does not resolve ({exc}).", "không phân giải được tên máy chủ.") from exc
    allowed = {h.strip().lower() for h in settings.fetch_allow_private.split(",") if h.strip()}
    if "*" in allowed or parts.hostname.lower() in allowed:
        return
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            raise _refuse(url, f"it points to a non-public address ({address}); add the host to "
                               "NEWSQA_FETCH_ALLOW_PRIVATE to allow it.", f"địa chỉ không công khai ({address}).")


def fetch(url: str, settings: Settings) -> Fetched:
    """GET `url`, following at most MAX_REDIRECTS redirects, each checked like the first."""
    import httpx

    limit = int(settings.max_upload_mb * 1024 * 1024)
    current = url.strip()
    with httpx.Client(timeout=settings.fetch_timeout, follow_redirects=False,
                      headers={"User-Agent": USER_AGENT}) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(current, settings)
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
                    for block in resp.iter_bytes():
                        body += block
                        if len(body) > limit:
                            raise _too_big(url, settings)
                    return Fetched(str(resp.url), bytes(body), resp.headers.get("content-type", ""))
            except httpx.TimeoutException as exc:
                raise _refuse(url, f"no answer within {settings.fetch_timeout:g} s.",
                              f"máy chủ không trả lời trong {settings.fetch_timeout:g} giây.") from exc
            except httpx.HTTPError as exc:
                raise _refuse(url, f"{type(exc).__name__}: {exc}", "lỗi kết nối.") from exc
    raise _refuse(url, f"more than {MAX_REDIRECTS} redirects.", f"chuyển hướng quá {MAX_REDIRECTS} lần.")


def _too_big(url: str, settings: Settings) -> InputError:
    return _refuse(url, f"larger than the limit of {settings.max_upload_mb:g} MB (NEWSQA_MAX_UPLOAD_MB).",
                   f"lớn hơn giới hạn {settings.max_upload_mb:g} MB.")
