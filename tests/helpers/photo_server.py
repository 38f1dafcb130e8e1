"""A local server of product photos by URL, for catalogues whose photos are links."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from core.ingest.sample import draw_product


class PhotoServer(ThreadingHTTPServer):
    """Serves drawn product photos by name; a few names misbehave on purpose. Counts requests per path."""

    daemon_threads = True

    def __init__(self):
        self.requests: dict[str, int] = {}
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), PhotoHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def total(self) -> int:
        return sum(self.requests.values())


def jpeg(kind: str, colour: str) -> bytes:
    buf = io.BytesIO()
    draw_product(kind, colour, "Solid").save(buf, "JPEG")
    return buf.getvalue()


PHOTOS = {name: jpeg(kind, colour) for name, kind, colour in [
    ("dress-red.jpg", "Dresses", "Red"), ("dress-blue.jpg", "Dresses", "Blue"), ("tee.jpg", "Tshirts", "White"),
    ("sandal.jpg", "Sandals", "Brown"), ("watch.jpg", "Watches", "Black"), ("shorts.jpg", "Shorts", "Yellow")]}


class PhotoHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        name = self.path.lstrip("/")
        with self.server.lock:
            seen = self.server.requests[name] = self.server.requests.get(name, 0) + 1
        if name == "flaky.jpg" and seen == 1:
            return self._send(500, b"try again", "text/plain")
        if name == "flaky.jpg":
            return self._send(200, PHOTOS["tee.jpg"], "image/jpeg")
        if name == "slow.jpg":
            time.sleep(3)
            return self._send(200, PHOTOS["tee.jpg"], "image/jpeg")
        if name == "huge.jpg":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(50_000_000))
            self.end_headers()
            return
        if name == "page.jpg":
            return self._send(200, b"<!doctype html><html><body>Not found</body></html>", "image/jpeg")
        if name in PHOTOS:
            etag = f'"{hashlib.sha256(PHOTOS[name]).hexdigest()[:16]}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            return self._send(200, PHOTOS[name], "image/jpeg", etag)
        self._send(404, b"no such photo", "text/plain")

    def _send(self, status: int, body: bytes, kind: str, etag: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        if etag:
            self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass
