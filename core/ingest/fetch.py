"""Product photos from http(s) URLs: checked against SSRF at every hop, size-capped, retried, deadlined, cached."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import socket
import threading
import time
from collections import OrderedDict
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator, Self, TypeVar
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError, SSLError
from urllib3.exceptions import TimeoutError as UrllibTimeout

from core.common.config import redact_url
from core.common.errors import ImageRejected
from core.common.files import atomic_write

USER_AGENT = "CatalogLens/1.0 (+image indexer)"
MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 30.0   # a server asking for an hour's pause gets 30 s: one photo must not stall a run
DEADLINE = 3             # a whole fetch (connect, headers, body, redirects, retries) ends within 3 x timeout
CHUNK = 64 * 1024
MAX_POOLS = 32           # least recently used pools beyond this close: 5,000 hosts must not keep 5,000 sockets
REDIRECTS = {301, 302, 303, 307, 308}
OCTET_STREAMS = {"", "application/octet-stream", "binary/octet-stream"}  # S3 and CDNs often serve photos so
PRIVATE_HINT = "set LENS_ALLOW_PRIVATE_URLS=1 for an intranet image server"
SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
T = TypeVar("T")


class _Deadline:
    """One fetch's whole deadline. A socket timeout ends a silent wait, but a server sending a byte a second never
    lets one read time out: at the deadline every socket the fetch opened is shut down, which ends whatever read
    is blocked on it (TLS handshake, status line, headers or body)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expires = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    @property
    def reason(self) -> str:
        return f"timed out after {self.seconds:g} s"

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        """Shut sock down at the deadline. A duplicate of its descriptor is kept: the socket object itself may be
        wrapped in TLS (which detaches it) or closed and its number reused meanwhile."""
        try:
            dup = socket.fromfd(sock.fileno(), sock.family, sock.type)
        except OSError:
            return
        with self._lock:
            if not self.expired:
                self._sockets.append(dup)
                return
        _shut(dup)

    def _expire(self) -> None:
        with self._lock:
            self.expired, sockets, self._sockets = True, self._sockets, []
        for sock in sockets:
            _shut(sock)

    def __enter__(self) -> Self:
        _current.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        _current.deadline = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()  # only the duplicate: a kept-alive connection stays open in its pool


_current = threading.local()  # the deadline of the fetch running in this thread


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by its peer
    sock.close()


class _Watched:
    """A connection whose sockets are shut down at the deadline of the fetch using it."""

    def _new_conn(self):
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def request(self, *args, **kwargs):
        if self.sock is not None:  # a kept-alive connection, reused by a later fetch
            _watch(self.sock)
        return super().request(*args, **kwargs)


def _watch(sock: socket.socket) -> None:
    deadline = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


@dataclass(frozen=True)
class _Target:
    """One request's destination: the address that was checked is the address that is dialled."""

    scheme: str
    host: str
    port: int
    ip: str
    path: str

    @property
    def host_header(self) -> str:
        """Host header value: the name the URL used (bracketed if IPv6), with a port only when non-default."""
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == (443 if self.scheme == "https" else 80) else f"{name}:{self.port}"


def check_url(url: str, allow_private: bool) -> None:
    """Raise ImageRejected unless url is http(s) and every address its host resolves to may be reached."""
    _target(url, allow_private)


def _target(url: str, allow_private: bool) -> _Target:
    """Parse, resolve and check url; the first checked address is pinned so no second DNS lookup can differ."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ImageRejected("malformed image URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        got = f"'{scheme}'" if scheme else "none"
        raise ImageRejected(f"unsupported URL scheme {got}: only http and https images can be fetched")
    if not parts.hostname:
        raise ImageRejected("image URL has no host name")
    try:
        host = parts.hostname.encode("idna").decode("ascii")  # bücher.example -> xn--bcher-kva.example
    except UnicodeError:
        raise ImageRejected("malformed image URL (host name)") from None
    port = port or (443 if scheme == "https" else 80)
    ips = _addresses(host, port)
    for ip in ips:
        if not allow_private and _is_private(ip):
            raise ImageRejected(f"host {host} resolves to a private address {ip}; {PRIVATE_HINT}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(scheme, host, port, ips[0], path)


def _addresses(host: str, port: int) -> list[str]:
    """Every address host resolves to (the one DNS lookup per hop)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise ImageRejected(f"host {host} cannot be resolved") from None
    ips = list(dict.fromkeys(info[4][0] for info in infos))
    if not ips:
        raise ImageRejected(f"host {host} cannot be resolved")
    return ips


def _is_private(address: str) -> bool:
    """True for loopback, private, link-local, multicast, reserved, unspecified or otherwise non-global addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # ::ffff:127.0.0.1 reaches 127.0.0.1; 6to4 (2002::/16) and Teredo addresses wrap an IPv4 address too
        wrapped = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if wrapped is not None:
            return _is_private(str(wrapped)) or not ip.is_global
    return (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified or not ip.is_global)  # not global: e.g. 100.64/10, where cloud metadata lives


def _check_signature(body: bytes) -> None:
    """Refuse a body whose first bytes are not a JPEG, PNG, GIF, WEBP, BMP or TIFF."""
    if not body:
        raise ImageRejected("empty response (0 bytes)")
    if body.startswith(SIGNATURES) or (body[:4] == b"RIFF" and body[8:12] == b"WEBP"):
        return
    head = body[:256].lstrip().lower()
    if head.startswith(b"<") and b"<svg" in head:
        raise ImageRejected("not an image we can read: SVG")
    if head.startswith(b"<"):
        raise ImageRejected("not an image: starts like HTML")
    raise ImageRejected("not an image: unknown file signature")


def _refused(exc: Exception, target: _Target) -> str:
    """The reason a request that did not time out failed."""
    if isinstance(exc, SSLError):
        return f"TLS connection to {target.host} failed (untrusted certificate?)"
    if isinstance(exc, ValueError):  # http.client refusing a header or path it cannot send
        return "malformed image URL"
    return f"cannot connect to {target.host}"


def _short(value: str) -> str:
    """A header value safe to show: printable, at most 60 characters."""
    return "".join(c for c in value if c.isprintable())[:60]


class ImageFetcher:
    """Fetches product photos from http(s) URLs into a disk cache under the data dir."""

    def __init__(self, cache_dir: Path, *, allow_private: bool = False, timeout: float = 20.0,
                 max_bytes: int = 20_000_000, per_host: int = 4, retries: int = 3, backoff: float = 0.5,
                 refresh: bool = False):
        self.cache_dir = Path(cache_dir)
        self.allow_private, self.timeout, self.max_bytes = allow_private, timeout, max_bytes
        self.per_host, self.retries, self.backoff, self.refresh = per_host, retries, backoff, refresh
        self._lock = threading.Lock()
        self._fresh: set[str] = set()  # URLs fetched or revalidated by this fetcher (its run)
        self._pools: OrderedDict[tuple, urllib3.HTTPConnectionPool] = OrderedDict()
        self._slots: dict[str, threading.BoundedSemaphore] = {}

    def path_for(self, url: str) -> Path:
        """Where the photo of url is (or will be) cached: the product's photo for thumbnails and the product view."""
        return self._paths(url)[0]

    def cached(self, url: str) -> str | None:
        """sha256 hex of the cached body for url, or None; never touches the network (used to fingerprint unchanged products)."""
        hit = self._load(url)
        return hit[1]["sha256"] if hit else None

    def fetch(self, url: str) -> bytes:
        """The image bytes: from the cache when present (with refresh=True, revalidated with If-None-Match / If-Modified-Since; 304 keeps the cache), else downloaded and cached, all within DEADLINE x timeout. Raises core.common.errors.ImageRejected(reason) on any failure."""
        return self._get(url)[0]

    def download(self, url: str) -> bytes | None:
        """Bring url's photo into the cache, as fetch() does, for a later fetch() to read from there: None once it
        is there; the bytes when the cache could not keep them (the caller holds them then). So downloads can run
        wide while photos wait on disk, not in memory. Raises core.common.errors.ImageRejected(reason) on any failure."""
        body, kept = self._get(url)
        return None if kept else body

    def _get(self, url: str) -> tuple[bytes, bool]:
        """(body, whether the cache holds it)."""
        hit = self._load(url)
        if hit and (not self.refresh or url in self._fresh):  # revalidated once per run is enough
            return hit[0], True
        conditional = {}
        if hit and hit[1].get("etag"):
            conditional["If-None-Match"] = hit[1]["etag"]
        if hit and hit[1].get("last_modified"):
            conditional["If-Modified-Since"] = hit[1]["last_modified"]
        with _Deadline(DEADLINE * self.timeout) as deadline:
            status, headers, body = self._follow(url, conditional, deadline)
        if status == 304 and hit:
            self._fresh.add(url)
            return hit[0], True
        if status == 304:
            raise ImageRejected("HTTP 304 without a cached copy")
        _check_signature(body)
        kept = self._store(url, body, headers)
        self._fresh.add(url)
        return body, kept

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- network ---------------------------------------------------------------------------------------------

    def _follow(self, url: str, conditional: dict[str, str], deadline: _Deadline) -> tuple[int, dict, bytes]:
        """GET url, following redirects ourselves so scheme and address are re-checked at every hop."""
        for hop in range(MAX_REDIRECTS + 1):
            try:
                target = _target(url, self.allow_private)
            except ImageRejected as exc:
                if hop == 0:
                    raise
                raise ImageRejected(f"redirect to {redact_url(url)} refused: {exc}") from None
            status, headers, body = self._with_retries(target, conditional, deadline)
            if status not in REDIRECTS:
                return status, headers, body
            if not headers.get("location"):
                raise ImageRejected(f"HTTP {status} redirect without a Location")
            url = urljoin(url, headers["location"])
        raise ImageRejected(f"too many redirects (more than {MAX_REDIRECTS})")

    def _with_retries(self, target: _Target, conditional: dict[str, str],
                      deadline: _Deadline) -> tuple[int, dict, bytes]:
        """One hop, retried with exponential backoff on 5xx and 429 (a numeric Retry-After is honoured, capped),
        while the deadline leaves time for the pause."""
        for attempt in range(self.retries + 1):
            status, headers, body = self._request(target, conditional, deadline)
            if status < 300 or status in REDIRECTS or status == 304:
                return status, headers, body
            tries = f" after {attempt + 1} attempts" if attempt else ""
            if not (status >= 500 or status == 429) or attempt == self.retries:
                raise ImageRejected(f"HTTP {status}{tries}")
            delay = self.backoff * 2 ** attempt
            retry_after = headers.get("retry-after", "").strip()
            if retry_after.replace(".", "", 1).isdigit():
                delay = max(delay, min(float(retry_after), MAX_RETRY_AFTER))
            if delay >= deadline.remaining():
                raise ImageRejected(f"HTTP {status}{tries}; no time left to retry within {deadline.seconds:g} s")
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _request(self, target: _Target, conditional: dict[str, str], deadline: _Deadline) -> tuple[int, dict, bytes]:
        """One GET to the pinned address, holding one of the host's per_host slots; the body only for 2xx. No wait
        (for a slot, the connection, each read) outlasts the deadline."""
        headers = {"Host": target.host_header, "User-Agent": USER_AGENT, "Accept": "image/*", **conditional}
        slot = self._slot(target.host)
        if not slot.acquire(timeout=max(0.0, deadline.remaining())):
            raise ImageRejected(f"{deadline.reason} (waiting for a connection to {target.host})")
        try:
            wait = min(self.timeout, deadline.remaining())
            if wait <= 0:
                raise ImageRejected(deadline.reason)
            try:
                resp = self._pool(target).urlopen("GET", target.path, headers=headers, redirect=False,
                                                  retries=False, preload_content=False, assert_same_host=False,
                                                  timeout=urllib3.Timeout(connect=wait, read=wait))
            except (HTTPError, OSError, ValueError) as exc:
                raise ImageRejected(self._timed_out(exc, deadline, wait) or _refused(exc, target)) from None
            ok = False
            try:
                body = self._read(resp, deadline, wait) if 200 <= resp.status < 300 else b""
                ok = True
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, body
            finally:
                if not ok or not body:
                    resp.close()  # an unread or half-read body must never go back to the pool
                resp.release_conn()
        finally:
            slot.release()

    def _timed_out(self, exc: Exception, deadline: _Deadline, wait: float) -> str | None:
        """The reason when a request failed for lack of time, else None. The deadline comes first: it shuts
        sockets down, and they fail in many ways then. A read cut short to the deadline's remainder is the
        deadline too."""
        if deadline.expired or (isinstance(exc, UrllibTimeout) and wait < self.timeout):
            return deadline.reason
        if isinstance(exc, UrllibTimeout):
            return f"timed out after {self.timeout:g} s"
        return None

    def _read(self, resp, deadline: _Deadline, wait: float) -> bytes:
        """The body, refused before reading by its headers, and stopped as soon as it passes max_bytes."""
        kind = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in OCTET_STREAMS and not kind.startswith("image/"):
            raise ImageRejected(f"not an image: Content-Type {_short(kind)}")
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise ImageRejected(f"image is larger than {self.max_bytes} bytes (Content-Length {declared})")
        body = bytearray()
        try:
            while chunk := resp.read1(CHUNK):  # read1: returns what has arrived, so the deadline is checked
                body += chunk
                if len(body) > self.max_bytes:
                    raise ImageRejected(f"image is larger than {self.max_bytes} bytes")
                if deadline.expired:
                    raise ImageRejected(deadline.reason)
        except (HTTPError, OSError) as exc:
            reason = self._timed_out(exc, deadline, wait) or "connection dropped while downloading"
            raise ImageRejected(reason) from None
        if deadline.expired:  # a socket shut down mid-body reads as the end of a body without a length
            raise ImageRejected(deadline.reason)
        return bytes(body)

    def _pool(self, target: _Target) -> urllib3.HTTPConnectionPool:
        """The shared pool for this pinned address; HTTPS still verifies the certificate against the host name."""
        key = (target.scheme, target.ip, target.port, target.host)
        with self._lock:
            if key not in self._pools:
                timeout = urllib3.Timeout(connect=self.timeout, read=self.timeout)
                common = {"timeout": timeout, "maxsize": self.per_host, "block": True, "retries": False}
                self._pools[key] = (
                    _HTTPSPool(target.ip, target.port, server_hostname=target.host, assert_hostname=target.host,
                               cert_reqs="CERT_REQUIRED", **common)
                    if target.scheme == "https" else _HTTPPool(target.ip, target.port, **common))
                if len(self._pools) > MAX_POOLS:
                    self._pools.popitem(last=False)[1].close()  # connections in use close when handed back
            self._pools.move_to_end(key)
            return self._pools[key]

    def _slot(self, host: str) -> threading.BoundedSemaphore:
        """The semaphore bounding concurrent connections to one host name."""
        with self._lock:
            return self._slots.setdefault(host, threading.BoundedSemaphore(self.per_host))

    # -- cache -----------------------------------------------------------------------------------------------

    def _paths(self, url: str) -> tuple[Path, Path]:
        """Body and sidecar paths, keyed by sha256(url) and fanned out over 256 folders."""
        key = hashlib.sha256(url.encode("utf-8")).hexdigest()
        folder = self.cache_dir / key[:2]
        return folder / f"{key}.img", folder / f"{key}.json"

    def _load(self, url: str) -> tuple[bytes, dict] | None:
        """(body, sidecar) when cached; a body is trusted only if it matches the sha256 in the sidecar written after it."""
        body_path, meta_path = self._paths(url)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            body = body_path.read_bytes()
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("url") != url:
            return None
        if meta.get("sha256") != hashlib.sha256(body).hexdigest():
            return None
        return body, meta

    def _store(self, url: str, body: bytes, headers: dict) -> bool:
        """Write the body, then its sidecar, each atomically: a kill between them leaves a mismatch, never trusted.
        False when the cache could not keep them."""
        body_path, meta_path = self._paths(url)
        meta = {"url": url, "etag": headers.get("etag"), "last_modified": headers.get("last-modified"),
                "sha256": hashlib.sha256(body).hexdigest(), "content_type": headers.get("content-type"),
                "fetched_at": datetime.now(UTC).isoformat(timespec="seconds")}
        try:
            atomic_write(body_path, body)
            atomic_write(meta_path, json.dumps(meta))
        except OSError:
            return False  # a full or read-only cache costs a download next time, not this photo
        return True


def fetcher_for(settings, refresh: bool = False) -> ImageFetcher:
    """The fetcher the CLI and the app index with: cache under the data dir, limits from the settings."""
    return ImageFetcher(Path(settings.data_dir) / "image-cache", allow_private=settings.allow_private_urls,
                        timeout=settings.image_timeout, max_bytes=settings.image_max_bytes, per_host=8,
                        refresh=refresh)


def download_in_arrival_order(items: Iterable[T], url_of: Callable[[T], str], fetcher: ImageFetcher,
                              workers: int) -> Iterator[tuple[T, bytes | None, str | None]]:
    """(item, bytes, problem) for each item, its photo brought into the cache by `workers` threads that only
    download (fetcher.download: bytes only when the cache could not keep them; problem is the reason a download
    failed). Items without a URL come through at once; the others in the order their downloads end, so a server
    that stalls holds back its own item, until the deadline, and never the rest of the run."""
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="download") as pool:
        running: dict = {}

        def arrived(block: bool) -> Iterator[tuple[T, bytes | None, str | None]]:
            done, _ = wait(running, return_when=FIRST_COMPLETED, timeout=None if block else 0)
            for future in done:
                try:
                    data, problem = future.result(), None
                except ImageRejected as exc:
                    data, problem = None, str(exc)
                yield running.pop(future), data, problem

        try:
            for item in items:
                url = url_of(item)
                if not url:
                    yield item, None, None
                    continue
                running[pool.submit(fetcher.download, url)] = item
                yield from arrived(block=len(running) >= 2 * workers)  # the pool busy, and a few more queued
            while running:
                yield from arrived(block=True)
        finally:
            for future in running:  # a run stopped early waits for the downloads under way, not the queued ones
                future.cancel()
