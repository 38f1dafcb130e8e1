"""ImageFetcher against real local HTTP servers: schemes, SSRF at every hop, timeouts, retries, caps, cache."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import tracemalloc
from types import SimpleNamespace

import pytest

from core.ingest import fetch as fetch_module
from core.common.errors import ImageRejected
from core.ingest.fetch import USER_AGENT, ImageFetcher, check_url
from tests.helpers.http_server import PNG, Server, image_bytes, png, send


@pytest.fixture
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def fetcher(tmp_path):
    f = ImageFetcher(tmp_path / "cache", allow_private=True, timeout=2.0, backoff=0.01)
    yield f
    f.close()


def rejected(f: ImageFetcher, url: str) -> str:
    """The reason fetch(url) gives."""
    with pytest.raises(ImageRejected) as info:
        f.fetch(url)
    return str(info.value)


def wait_until(condition, seconds: float) -> bool:
    """Whether condition() came true within `seconds` (a deadline for a failing test, not a measure)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def pauses_of_the_fetcher(monkeypatch) -> list[float]:
    """The seconds each time.sleep in core.ingest.fetch paused for, recorded as they happen (and still slept)."""
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(fetch_module, "time", SimpleNamespace(
        **{**{name: getattr(time, name) for name in dir(time) if not name.startswith("__")}, "sleep": sleep}))
    return pauses


# -- schemes and addresses -----------------------------------------------------------------------------------

def test_fetches_a_png_and_sends_the_user_agent(server, fetcher):
    server.routes["/a.png"] = png
    assert fetcher.fetch(server.url("/a.png")) == PNG
    assert server.requests[0][1]["User-Agent"] == USER_AGENT == "CatalogLens/1.0 (+image indexer)"


@pytest.mark.parametrize("url, scheme", [("file:///etc/passwd", "file"), ("ftp://example.com/a.png", "ftp"),
                                         ("data:image/png;base64,iVBORw0KGgo=", "data"),
                                         ("javascript:alert(1)", "javascript")])
def test_only_http_and_https_schemes_are_fetched(fetcher, url, scheme):
    assert rejected(fetcher, url) == f"unsupported URL scheme '{scheme}': only http and https images can be fetched"
    with pytest.raises(ImageRejected, match=f"'{scheme}'"):
        check_url(url, allow_private=True)


def test_loopback_url_is_refused_unless_private_urls_are_allowed(server, tmp_path):
    server.routes["/a.png"] = png
    with ImageFetcher(tmp_path / "cache") as strict:
        assert rejected(strict, server.url("/a.png")) == (
            "host 127.0.0.1 resolves to a private address 127.0.0.1; "
            "set LENS_ALLOW_PRIVATE_URLS=1 for an intranet image server")
    assert server.hits("/a.png") == 0
    with pytest.raises(ImageRejected, match="private address"):
        check_url("http://localhost/a.png", allow_private=False)
    check_url(server.url("/a.png"), allow_private=True)


def test_any_private_address_among_the_resolved_ones_refuses(monkeypatch):
    monkeypatch.setattr(fetch_module, "_addresses", lambda host, port: ["93.184.216.34", "10.1.2.3"])
    with pytest.raises(ImageRejected, match=r"^host shop\.example resolves to a private address 10\.1\.2\.3;"):
        check_url("https://shop.example/a.png", allow_private=False)
    check_url("https://shop.example/a.png", allow_private=True)


@pytest.mark.parametrize("address, private", [
    ("127.0.0.1", True), ("10.0.0.1", True), ("172.16.5.4", True), ("192.168.1.1", True),
    ("169.254.169.254", True), ("100.100.100.200", True), ("0.0.0.0", True), ("224.0.0.1", True),
    ("240.0.0.1", True), ("::1", True), ("::", True), ("fe80::1%eth0", True), ("fc00::1", True),
    ("::ffff:127.0.0.1", True), ("::ffff:10.0.0.1", True), ("2002:7f00:1::1", True), ("2002:a00:1::1", True),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", True),  # Teredo wrapping 127.0.0.1 (obfuscated)
    ("93.184.216.34", False), ("8.8.8.8", False), ("2606:4700:4700::1111", False), ("::ffff:8.8.8.8", False)])
def test_address_classification(address, private):
    assert fetch_module._is_private(address) is private


def test_connects_to_the_checked_address_without_a_second_lookup(server, fetcher, monkeypatch):
    lookups = []

    def resolve(host, port):
        lookups.append(host)
        return ["127.0.0.1"]

    server.routes["/a.png"] = png
    monkeypatch.setattr(fetch_module, "_addresses", resolve)
    # shop.example cannot be resolved for real here, so success proves urllib3 dialled the pinned address
    assert fetcher.fetch(f"http://shop.example:{server.port}/a.png") == PNG
    assert lookups == ["shop.example"]
    assert server.requests[0][1]["Host"] == f"shop.example:{server.port}"


@pytest.fixture
def loopback_is_public(monkeypatch):
    """127.0.0.1 counts as public; every other address keeps the real rule."""
    real = fetch_module._is_private
    monkeypatch.setattr(fetch_module, "_is_private", lambda ip: False if ip == "127.0.0.1" else real(ip))


def test_redirect_to_a_private_address_is_refused_even_from_a_public_url(server, tmp_path, loopback_is_public):
    inner = Server("127.0.0.2")  # a real server that would hand out the photo if the hop were not re-checked
    try:
        inner.routes["/secret.png"] = png
        server.routes["/start"] = lambda h, n: send(h, 302, headers={"Location": inner.url("/secret.png")})
        with ImageFetcher(tmp_path / "cache", timeout=1.0) as f:
            reason = rejected(f, server.url("/start"))
        assert reason == (f"redirect to {inner.url('/secret.png')} refused: host 127.0.0.2 resolves to a private "
                          "address 127.0.0.2; set LENS_ALLOW_PRIVATE_URLS=1 for an intranet image server")
        assert (server.hits("/start"), inner.hits("/secret.png")) == (1, 0)
    finally:
        inner.stop()


def test_redirect_to_an_intranet_address_is_refused(server, tmp_path, loopback_is_public):
    server.routes["/start"] = lambda h, n: send(h, 302, headers={"Location": "http://10.0.0.1/meta"})
    with ImageFetcher(tmp_path / "cache", timeout=0.5) as f:
        assert "private address 10.0.0.1;" in rejected(f, server.url("/start"))


def test_redirect_to_a_file_url_is_refused(server, fetcher):
    server.routes["/start"] = lambda h, n: send(h, 301, headers={"Location": "file:///etc/passwd"})
    assert rejected(fetcher, server.url("/start")) == (
        "redirect to file:///etc/passwd refused: unsupported URL scheme 'file': only http and https images can be "
        "fetched")


def test_redirect_reason_never_shows_credentials(server, fetcher):
    location = "ftp://shopuser:hunter2@10.0.0.1/a.png?token=abc123"
    server.routes["/start"] = lambda h, n: send(h, 302, headers={"Location": location})
    reason = rejected(fetcher, server.url("/start"))
    assert reason.startswith("redirect to ftp://shopuser:***@10.0.0.1/a.png?token=*** refused:")
    assert "hunter2" not in reason and "abc123" not in reason


def test_relative_redirects_are_followed_and_loops_stop_after_five(server, fetcher):
    server.routes["/old.png"] = lambda h, n: send(h, 301, headers={"Location": "/new.png"})
    server.routes["/new.png"] = png
    server.routes["/loop"] = lambda h, n: send(h, 302, headers={"Location": "/loop"})
    assert fetcher.fetch(server.url("/old.png")) == PNG
    assert rejected(fetcher, server.url("/loop")) == "too many redirects (more than 5)"
    assert server.hits("/loop") == 6


# -- timeouts and retries ------------------------------------------------------------------------------------

def test_a_server_slower_than_the_timeout_is_given_up_on(server, tmp_path):
    # The server holds its answer (the headers, or the rest of the body) until the fetch has returned. A fetcher
    # that waited for the server would get the photo, or a dropped connection, instead of the timeout; HOLD
    # (far past the 0.5 s timeout and the 1.5 s whole-fetch deadline) only bounds how long such a failure takes.
    fetch_returned = threading.Event()
    held_until_the_fetch_returned: list[bool] = []
    hold = 30.0

    def slow(h, n):
        held_until_the_fetch_returned.append(fetch_returned.wait(hold))
        png(h, n)

    def trickle(h, n):
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Content-Length", str(len(PNG)))
        h.end_headers()
        h.wfile.write(PNG[:10])
        h.wfile.flush()
        held_until_the_fetch_returned.append(fetch_returned.wait(hold))
        h.close_connection = True  # the rest of the body never comes

    server.routes["/slow.png"], server.routes["/trickle.png"] = slow, trickle
    with ImageFetcher(tmp_path / "cache", allow_private=True, timeout=0.5) as f:
        for i, path in enumerate(("/slow.png", "/trickle.png")):
            fetch_returned.clear()
            try:
                assert rejected(f, server.url(path)) == "timed out after 0.5 s"
            finally:
                fetch_returned.set()
            assert wait_until(lambda: len(held_until_the_fetch_returned) == i + 1, seconds=hold)
            assert held_until_the_fetch_returned[i], f"{path}: the fetch returned only after the server answered"
            assert server.hits(path) == 1  # timeouts are not retried


def test_500_then_200_succeeds_after_one_retry(server, fetcher):
    server.routes["/a.png"] = lambda h, n: send(h, 500, b"oops") if n == 1 else png(h, n)
    assert fetcher.fetch(server.url("/a.png")) == PNG
    assert server.hits("/a.png") == 2


def test_a_permanent_503_fails_after_all_retries_with_the_status(server, tmp_path):
    server.routes["/a.png"] = lambda h, n: send(h, 503, b"busy")
    with ImageFetcher(tmp_path / "cache", allow_private=True, retries=2, backoff=0.01) as f:
        assert rejected(f, server.url("/a.png")) == "HTTP 503 after 3 attempts"
    assert server.hits("/a.png") == 3


def test_404_fails_at_once_without_retrying(server, fetcher):
    assert rejected(fetcher, server.url("/gone.png")) == "HTTP 404"
    assert server.hits("/gone.png") == 1


def test_retry_after_is_honoured_up_to_a_cap(server, fetcher, monkeypatch):
    monkeypatch.setattr(fetch_module, "MAX_RETRY_AFTER", 0.4)
    server.routes["/a.png"] = lambda h, n: send(h, 429, headers={"Retry-After": "3600"}) if n == 1 else png(h, n)
    pauses = pauses_of_the_fetcher(monkeypatch)
    assert fetcher.fetch(server.url("/a.png")) == PNG
    assert pauses == [0.4]  # the capped Retry-After, not the hour asked for, nor the 0.01 s backoff alone
    assert server.hits("/a.png") == 2


# -- size and content ----------------------------------------------------------------------------------------

def zeros(declare_length: bool, sent: list, done: threading.Event, fetch_returned: threading.Event,
          held_until_the_fetch_returned: list):
    """A route streaming 50 MB (a PNG signature, then zeros) in 64 KB pieces, recording how much got out. After
    the first 5 MB it holds the rest until the fetch has returned (30 s at most), recording whether it had."""
    total, piece = 50_000_000, bytes(65536)

    def route(h, n):
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header(*(("Content-Length", str(total)) if declare_length else ("Transfer-Encoding", "chunked")))
        h.end_headers()
        try:
            first = PNG[:8] + piece[8:]
            for i in range(total // len(piece)):
                data = first if i == 0 else piece
                h.wfile.write(data if declare_length else b"%x\r\n%s\r\n" % (len(data), data))
                sent[0] += len(data)
                if sent[0] >= 5_000_000 and not held_until_the_fetch_returned:
                    h.wfile.flush()
                    held_until_the_fetch_returned.append(fetch_returned.wait(30))
        except OSError:
            pass
        finally:
            done.set()
    return route


@pytest.mark.parametrize("declare_length, reason", [
    (True, "image is larger than 1000000 bytes (Content-Length 50000000)"),
    (False, "image is larger than 1000000 bytes")])
def test_a_body_over_max_bytes_fails_fast_without_being_buffered(server, tmp_path, declare_length, reason):
    sent, done, fetch_returned, held = [0], threading.Event(), threading.Event(), []
    server.routes["/big.png"] = zeros(declare_length, sent, done, fetch_returned, held)
    tracemalloc.start()
    try:
        with ImageFetcher(tmp_path / "cache", allow_private=True, max_bytes=1_000_000) as f:
            try:
                assert rejected(f, server.url("/big.png")) == reason
            finally:
                fetch_returned.set()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000
    assert done.wait(30) and sent[0] < 50_000_000  # the connection was dropped, not drained
    # Fast: the fetch gave up while the server still held back all but the first 5 MB of the 50.
    assert held in ([], [True]), "the fetch returned only after the server sent more than 5 MB"


def test_html_served_as_jpeg_is_refused(server, fetcher):
    page = b"<!DOCTYPE html><html><body>Access denied</body></html>"
    server.routes["/a.jpg"] = lambda h, n: send(h, 200, page, {"Content-Type": "image/jpeg"})
    assert rejected(fetcher, server.url("/a.jpg")) == "not an image: starts like HTML"


def test_a_non_image_content_type_is_refused(server, fetcher):
    server.routes["/a.png"] = lambda h, n: send(h, 200, PNG, {"Content-Type": "text/html; charset=utf-8"})
    assert rejected(fetcher, server.url("/a.png")) == "not an image: Content-Type text/html"


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "application/octet-stream"}])
def test_a_missing_or_generic_content_type_is_accepted_when_the_bytes_are_an_image(server, fetcher, headers):
    server.routes["/a"] = lambda h, n: send(h, 200, PNG, headers)
    assert fetcher.fetch(server.url("/a")) == PNG


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"])
def test_every_supported_format_passes_the_signature_check(fmt):
    fetch_module._check_signature(image_bytes(fmt))


@pytest.mark.parametrize("body, reason", [
    (b"", "empty response (0 bytes)"), (b'{"error": "denied"}', "not an image: unknown file signature"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "not an image we can read: SVG")])
def test_non_images_are_refused_by_their_bytes(body, reason):
    with pytest.raises(ImageRejected) as info:
        fetch_module._check_signature(body)
    assert str(info.value) == reason


# -- cache ---------------------------------------------------------------------------------------------------

def test_a_second_fetch_comes_from_the_cache_without_a_request(server, fetcher, tmp_path):
    server.routes["/a.png"] = lambda h, n: send(h, 200, PNG, {"Content-Type": "image/png", "ETag": '"v1"'})
    url = server.url("/a.png")
    assert fetcher.cached(url) is None
    assert fetcher.fetch(url) == PNG
    assert fetcher.fetch(url) == PNG
    assert server.hits("/a.png") == 1
    assert fetcher.cached(url) == hashlib.sha256(PNG).hexdigest()
    key = hashlib.sha256(url.encode()).hexdigest()
    meta = json.loads((tmp_path / "cache" / key[:2] / f"{key}.json").read_text())
    assert (meta["url"], meta["etag"], meta["sha256"], meta["content_type"]) == (
        url, '"v1"', hashlib.sha256(PNG).hexdigest(), "image/png")
    assert (tmp_path / "cache" / key[:2] / f"{key}.img").read_bytes() == PNG
    with ImageFetcher(tmp_path / "cache", allow_private=True) as later:  # survives a restart
        assert later.fetch(url) == PNG and server.hits("/a.png") == 1


def test_refresh_revalidates_and_a_304_keeps_the_cached_body(server, tmp_path):
    def conditional(h, n):
        if h.headers.get("If-None-Match") == '"v1"':
            send(h, 304, headers={"ETag": '"v1"', "Content-Length": "0"})
        else:
            send(h, 200, PNG, {"Content-Type": "image/png", "ETag": '"v1"',
                               "Last-Modified": "Mon, 02 Jun 2025 10:00:00 GMT"})

    server.routes["/a.png"] = conditional
    url = server.url("/a.png")
    with ImageFetcher(tmp_path / "cache", allow_private=True) as f:
        f.fetch(url)
    with ImageFetcher(tmp_path / "cache", allow_private=True, refresh=True) as f:
        assert f.fetch(url) == PNG
    assert server.hits("/a.png") == 2
    sent = server.requests[1][1]
    assert (sent["If-None-Match"], sent["If-Modified-Since"]) == ('"v1"', "Mon, 02 Jun 2025 10:00:00 GMT")
    assert "If-None-Match" not in server.requests[0][1]


def test_refresh_replaces_a_changed_photo(server, tmp_path):
    jpeg = image_bytes("JPEG")
    server.routes["/a"] = lambda h, n: send(h, 200, PNG if n == 1 else jpeg, {"ETag": f'"v{n}"'})
    url = server.url("/a")
    with ImageFetcher(tmp_path / "cache", allow_private=True) as f:
        f.fetch(url)
    with ImageFetcher(tmp_path / "cache", allow_private=True, refresh=True) as f:
        assert f.fetch(url) == jpeg
        assert f.cached(url) == hashlib.sha256(jpeg).hexdigest()


def test_failures_are_not_cached(server, fetcher):
    server.routes["/a.png"] = lambda h, n: send(h, 200, b"<html>", {"Content-Type": "image/png"}) if n == 1 \
        else png(h, n)
    url = server.url("/a.png")
    rejected(fetcher, url)
    assert fetcher.cached(url) is None
    assert fetcher.fetch(url) == PNG
    assert server.hits("/a.png") == 2


def test_a_body_that_does_not_match_its_sidecar_is_not_trusted(server, fetcher, tmp_path):
    server.routes["/a.png"] = png
    url = server.url("/a.png")
    fetcher.fetch(url)
    key = hashlib.sha256(url.encode()).hexdigest()
    (tmp_path / "cache" / key[:2] / f"{key}.img").write_bytes(PNG[:20])  # as if killed mid-way through a refresh
    assert fetcher.cached(url) is None
    assert fetcher.fetch(url) == PNG
    assert server.hits("/a.png") == 2


# -- threads -------------------------------------------------------------------------------------------------

def test_concurrent_fetches_hold_at_most_per_host_connections(server, tmp_path, monkeypatch):
    # The server holds every request it gets until the test has looked. Each of the 16 fetches is then either
    # held at the server or waiting for one of the host's slots; only then is the number at the server read.
    state = {"at_server": 0, "peak": 0, "waiting_for_a_slot": 0}
    changed = threading.Condition()
    looked = threading.Event()

    def held_png(h, n):
        with changed:
            state["at_server"] += 1
            state["peak"] = max(state["peak"], state["at_server"])
            changed.notify_all()
        looked.wait(30)
        with changed:
            state["at_server"] -= 1
        png(h, n)

    class CountedSlots(threading.BoundedSemaphore):
        """The fetcher's per-host slots, counting the threads that wait for one."""

        def acquire(self, blocking=True, timeout=None):
            if super().acquire(blocking=False):
                return True
            with changed:
                state["waiting_for_a_slot"] += 1
                changed.notify_all()
            try:
                return super().acquire(blocking, timeout)
            finally:
                with changed:
                    state["waiting_for_a_slot"] -= 1

    monkeypatch.setattr(fetch_module, "threading", SimpleNamespace(**{
        **{name: getattr(threading, name) for name in dir(threading) if not name.startswith("__")},
        "BoundedSemaphore": CountedSlots}))
    for i in range(16):
        server.routes[f"/{i}.png"] = held_png
    results, errors = [], []
    with ImageFetcher(tmp_path / "cache", allow_private=True, per_host=3, timeout=10.0) as f:  # time to look
        def work(i):
            try:
                results.append(f.fetch(server.url(f"/{i}.png")))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        try:
            with changed:
                everyone_placed = changed.wait_for(lambda: state["at_server"] + state["waiting_for_a_slot"] == 16, 30)
                at_server = state["at_server"]
        finally:
            looked.set()
        for t in threads:
            t.join()
    assert everyone_placed, f"not every fetch reached the server or a slot: {state}"
    assert at_server == 3
    assert errors == [] and results == [PNG] * 16
    assert state["peak"] == 3


def test_https_dials_the_pinned_address_but_verifies_the_certificate_for_the_host_name(tmp_path):
    with ImageFetcher(tmp_path / "cache") as f:
        pool = f._pool(fetch_module._Target("https", "shop.example", 443, "93.184.216.34", "/a.png"))
    assert (pool.host, pool.port, pool.assert_hostname, pool.conn_kw["server_hostname"]) == (
        "93.184.216.34", 443, "shop.example", "shop.example")
    assert pool.cert_reqs == "CERT_REQUIRED"


def test_https_to_a_server_without_tls_fails_with_a_plain_reason(server, fetcher):
    assert rejected(fetcher, f"https://127.0.0.1:{server.port}/a.png") == (
        "TLS connection to 127.0.0.1 failed (untrusted certificate?)")


def test_spaces_and_international_names_in_urls_are_encoded_before_sending(server, fetcher, monkeypatch):
    looked_up = []
    monkeypatch.setattr(fetch_module, "_addresses", lambda host, port: looked_up.append(host) or ["127.0.0.1"])
    server.routes["/my%20photo%20%C3%A9.png"] = png
    assert fetcher.fetch(f"http://bücher.example:{server.port}/my photo é.png") == PNG
    assert looked_up == ["xn--bcher-kva.example"]
    assert server.requests[0][1]["Host"] == f"xn--bcher-kva.example:{server.port}"


def test_a_body_trickling_in_under_the_read_timeout_still_hits_the_overall_deadline(server, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch_module, "DEADLINE", 2)
    cut_off = threading.Event()  # the server saw the connection end before it had sent the whole photo

    def drip(h, n):
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Content-Length", str(len(PNG)))
        h.end_headers()
        try:
            for byte in PNG:  # one byte every 0.1 s: each read succeeds well within the 0.4 s timeout
                h.wfile.write(bytes([byte]))
                h.wfile.flush()
                time.sleep(0.1)
        except OSError:
            cut_off.set()

    server.routes["/drip.png"] = drip
    with ImageFetcher(tmp_path / "cache", allow_private=True, timeout=0.4) as f:
        # Without the 0.8 s deadline the whole photo arrives (in len(PNG) / 10 s) and the fetch returns it.
        assert rejected(f, server.url("/drip.png")) == "timed out after 0.8 s"
    assert cut_off.wait(30), "the fetcher did not drop the trickling connection"


def test_pools_beyond_the_limit_are_closed_even_while_other_threads_use_them(server, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch_module, "MAX_POOLS", 2)
    monkeypatch.setattr(fetch_module, "_addresses", lambda host, port: ["127.0.0.1"])
    server.routes["/a.png"] = png
    urls = [f"http://host{i % 8}.example:{server.port}/a.png?n={i}" for i in range(32)]
    results, errors = [], []
    with ImageFetcher(tmp_path / "cache", allow_private=True) as f:
        def work(url):
            try:
                results.append(f.fetch(url))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
        threads = [threading.Thread(target=work, args=(url,)) for url in urls]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(f._pools) == 2
    assert errors == [] and results == [PNG] * 32
    assert {headers["Host"] for _, headers in server.requests} == {f"host{i}.example:{server.port}" for i in range(8)}
