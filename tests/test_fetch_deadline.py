"""A server that trickles its status line and headers a byte at a time: one fetch ends at its deadline, and an
indexing run goes on around the stalled photo and reports it."""

from __future__ import annotations

import itertools
import socket
import threading
import time

import pytest

from core.common.errors import ImageRejected
from core.ingest.fetch import ImageFetcher
from tests.conftest import write_csv
from tests.helpers.http_server import PNG, Server, png, send

TIMEOUT = 2.0        # seconds any one read may wait; the whole fetch ends within DEADLINE x TIMEOUT = 6 s
TRICKLE_EVERY = 0.2  # one byte per 0.2 s: every read succeeds well within TIMEOUT, so only a deadline can end it


class TrickleServer:
    """A raw socket server on 127.0.0.1: /stuck.png gets 'HTTP/1.1 200 OK\\r\\n' and then endless header bytes, one
    byte at a time; any other path gets a whole PNG. It records how many whole PNGs were served before each
    trickle ended (the client gave up)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.served = 0
        self.served_when_trickles_ended: list[int] = []
        self.trickle_ended = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.stop.set()
        self.sock.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            path = request.split(b" ")[1].decode()
            if path != "/stuck.png":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(PNG), PNG))
                with self.lock:
                    self.served += 1
                return
            endless = itertools.chain(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n",
                                      itertools.cycle(b"X-Padding: " + b"a" * 60 + b"\r\n"))
            try:
                while not self.stop.wait(TRICKLE_EVERY):
                    conn.sendall(bytes([next(endless)]))
            except OSError:  # the client shut the connection: it gave up
                pass
            with self.lock:
                self.served_when_trickles_ended.append(self.served)
            self.trickle_ended.set()


@pytest.fixture
def trickle():
    server = TrickleServer()
    yield server
    server.close()  # ends any trickle a test left running, so a stalled fetch (without the fix) ends too


def fetch_in_thread(fetcher: ImageFetcher, url: str, seconds: float) -> tuple[bool, list]:
    """(whether fetch(url) returned within `seconds`, [its bytes or ImageRejected])."""
    outcome: list = []

    def run():
        try:
            outcome.append(fetcher.fetch(url))
        except ImageRejected as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive(), outcome


def test_a_status_line_and_headers_at_a_byte_at_a_time_end_at_the_whole_fetch_deadline(trickle, tmp_path):
    with ImageFetcher(tmp_path / "cache", allow_private=True, timeout=TIMEOUT) as fetcher:
        returned, outcome = fetch_in_thread(fetcher, trickle.url("/stuck.png"), 3 * 3 * TIMEOUT)
        assert returned, "fetch was still waiting on the trickling headers"
        assert isinstance(outcome[0], ImageRejected) and str(outcome[0]) == "timed out after 6 s"
        assert not list(tmp_path.rglob("*.img"))  # nothing cached
        assert trickle.trickle_ended.wait(3 * TIMEOUT)  # the connection was given up on: the server saw it end
        assert fetcher.fetch(trickle.url("/good.png")) == PNG  # and the same fetcher still fetches
    assert trickle.served_when_trickles_ended == [0]


def test_redirect_hops_each_under_the_read_timeout_still_end_at_the_deadline(tmp_path):
    server = Server()

    def slow_hop(to: str):  # answers after 1.3 s (under the 2 s read timeout) with a redirect
        return lambda h, n: (time.sleep(1.3), send(h, 302, headers={"Location": to}))

    for i in range(5):  # five redirects, the most that are followed, then the photo
        server.routes[f"/hop{i}.png"] = slow_hop(f"/hop{i + 1}.png")
    server.routes["/hop5.png"] = png
    try:
        with ImageFetcher(tmp_path / "cache", allow_private=True, timeout=TIMEOUT) as fetcher:
            returned, outcome = fetch_in_thread(fetcher, server.url("/hop0.png"), 3 * 3 * TIMEOUT)
    finally:
        server.stop()
    assert returned and str(outcome[0]) == "timed out after 6 s"
    assert server.hits("/hop4.png") == 1 and server.hits("/hop5.png") == 0  # the fifth hop passes 6 s


def test_a_retry_that_would_pass_the_deadline_is_not_waited_for(tmp_path):
    server = Server()
    server.routes["/busy.png"] = lambda h, n: send(h, 503, headers={"Retry-After": "30"})  # 30 s: past 6 s
    try:
        with ImageFetcher(tmp_path / "cache", allow_private=True, timeout=TIMEOUT) as fetcher:
            returned, outcome = fetch_in_thread(fetcher, server.url("/busy.png"), 3 * TIMEOUT)
    finally:
        server.stop()
    assert returned and str(outcome[0]) == "HTTP 503; no time left to retry within 6 s"
    assert server.hits("/busy.png") == 1


def test_an_index_run_goes_on_around_a_stalled_photo_and_reports_it(trickle, tmp_path, embedder):
    from core.index.indexer import index_catalog
    from core.index.store import EdgeStore

    good = [f"good{i}" for i in range(10)]
    rows = [["stuck", "Stalled photo", trickle.url("/stuck.png")]]  # first: in-order waiting would hold the rest
    rows += [[sku, f"Product {sku}", trickle.url(f"/{sku}.png")] for sku in good]
    catalog = write_csv(tmp_path / "items.csv", ["sku", "name", "image_url"], rows)
    store = EdgeStore(tmp_path / "data")
    result: list = []

    def run():
        with ImageFetcher(tmp_path / "cache", allow_private=True, timeout=TIMEOUT) as fetcher:
            result.append(index_catalog(catalog, None, embedder, store, fetcher=fetcher, batch_size=2))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    try:
        assert not thread.is_alive(), "the indexing run was still waiting on the stalled photo"
        report = result[0]
        assert (report.indexed, report.text_only) == (11, 1)
        assert [(p.product_id, p.reason) for p in report.failed] == [
            ("stuck", "indexed text-only: photo URL failed: timed out after 6 s")]
        # every other photo had been downloaded while the stalled one was still trickling
        assert trickle.trickle_ended.wait(3 * TIMEOUT)
        assert trickle.served_when_trickles_ended == [len(good)]
    finally:
        store.close()
