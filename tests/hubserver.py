"""A local stand-in for the Hugging Face hub and for download.openmmlab.com.

Two HTTP servers on 127.0.0.1, both started by the tests, sharing one set of files and
one request log:

- ``hub``: answers ``HEAD/GET /<org>/<repo>/resolve/<revision>/<file>`` the way the hub
  does for an LFS file (huggingface_hub 2.x, ``get_hf_file_metadata``): a 302 to the CDN
  with ``X-Repo-Commit``, ``X-Linked-Etag`` (the file's sha256, quoted), ``X-Linked-Size``
  and ``ETag``; a missing file is a 404 with ``X-Error-Code: EntryNotFound``.
- ``cdn``: serves the bytes, honouring ``Range: bytes=N-`` with ``206`` and
  ``Content-Range`` (huggingface_hub's retry and our resumable download use it). The
  mmcls path is served here too (``HRNET_WB_MMCLS_BASE_URL`` points at it).

Faults for the tests: ``cut_next`` drops the connection halfway through the next N
body responses (headers promise the full length, then the socket closes);
``corrupt`` serves different bytes of the same length than the advertised sha256.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Served:
    data: bytes
    sha256: str = ""

    def __post_init__(self) -> None:
        self.sha256 = self.sha256 or hashlib.sha256(self.data).hexdigest()


@dataclass
class HubState:
    hub_files: dict[str, Served] = field(default_factory=dict)  # "org/repo/file" → bytes
    cdn_files: dict[str, Served] = field(default_factory=dict)  # "/path" → bytes
    requests: list[tuple[str, str, str, str]] = field(default_factory=list)  # (server, method, path, range)
    cut_next: int = 0
    corrupt: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hits(self, server: str = "") -> int:
        return sum(1 for r in self.requests if not server or r[0] == server)


def _handler(state: HubState, role: str, cdn_base: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

        def _log(self) -> None:
            with state.lock:
                state.requests.append((role, self.command, self.path, self.headers.get("Range", "")))

        def do_HEAD(self) -> None:
            self._log()
            self._route(body=False)

        def do_GET(self) -> None:
            self._log()
            self._route(body=True)

        def _route(self, body: bool) -> None:
            if role == "hub":
                m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", self.path)
                served = state.hub_files.get(f"{m.group(1)}/{m.group(3)}") if m else None
                if served is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("X-Error-Message", "Entry not found")
                    self.send_header("X-Repo-Commit", COMMIT)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(302)
                self.send_header("Location", f"{cdn_base[0]}/lfs/{served.sha256}")
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("X-Linked-Etag", f'"{served.sha256}"')
                self.send_header("X-Linked-Size", str(len(served.data)))
                self.send_header("ETag", f'"{served.sha256}"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            served = state.cdn_files.get(self.path)
            if served is None and self.path.startswith("/lfs/"):
                sha = self.path.rsplit("/", 1)[-1]
                served = next((f for f in state.hub_files.values() if f.sha256 == sha), None)
            if served is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = served.data
            if state.corrupt:
                data = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
            start = 0
            rng = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
            if rng and int(rng.group(1)) >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if rng:
                start = int(rng.group(1))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{served.sha256}"')
            self.end_headers()
            if not body:
                return
            chunk = data[start:]
            with state.lock:
                cut = state.cut_next > 0
                if cut:
                    state.cut_next -= 1
            if cut:
                self.wfile.write(chunk[: len(chunk) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)  # the peer sees the body end early
                return
            self.wfile.write(chunk)

    return Handler


class LocalHub:
    """Start with ``with LocalHub() as hub:``; ``hub.endpoint`` / ``hub.cdn`` are base URLs."""

    def __init__(self) -> None:
        self.state = HubState()
        cdn_base: list[str] = [""]
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state, "cdn", cdn_base))
        self._hub = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state, "hub", cdn_base))
        self.cdn = f"http://127.0.0.1:{self._cdn.server_address[1]}"
        self.endpoint = f"http://127.0.0.1:{self._hub.server_address[1]}"
        cdn_base[0] = self.cdn
        self._threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (self._cdn, self._hub)]

    def __enter__(self) -> LocalHub:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for s in (self._hub, self._cdn):
            s.shutdown()
            s.server_close()

    def add_hub_file(self, repo: str, filename: str, data: bytes) -> Served:
        served = Served(data)
        self.state.hub_files[f"{repo}/{filename}"] = served
        return served

    def add_cdn_file(self, path: str, data: bytes) -> Served:
        served = Served(data)
        self.state.cdn_files[path] = served
        return served

    @property
    def requests(self) -> list[tuple[str, str, str, str]]:
        return list(self.state.requests)
