"""A local HTTP server with per-path routes that records every request, and a real PNG to serve."""

from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


def image_bytes(fmt: str = "PNG") -> bytes:
    """A real 8x8 image in the given Pillow format."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, fmt)
    return out.getvalue()


PNG = image_bytes()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        owner = self.server.owner
        path = self.path.split("?")[0]
        with owner.lock:
            owner.requests.append((path, dict(self.headers)))
            owner.counts[path] = owner.counts.get(path, 0) + 1
            n = owner.counts[path]
        route = owner.routes.get(path)
        if route is None:
            send(self, 404, b"missing", {"Content-Type": "text/plain"})
        else:
            route(self, n)

    def log_message(self, *args):
        pass


def send(h, status: int, body: bytes = b"", headers: dict | None = None) -> None:
    """Write a complete response with a Content-Length."""
    h.send_response(status)
    for key, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
        h.send_header(key, value)
    h.end_headers()
    h.wfile.write(body)


def png(h, n):
    send(h, 200, PNG, {"Content-Type": "image/png"})


class Server:
    """A ThreadingHTTPServer in a thread, with per-path routes and a record of every request."""

    def __init__(self, host: str = "127.0.0.1"):
        self.routes, self.requests, self.counts = {}, [], {}
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.host, self.port = host, self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def hits(self, path: str) -> int:
        return self.counts.get(path, 0)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
