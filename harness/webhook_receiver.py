"""A webhook receiver written from docs/callbacks.md alone (not from pgjobs' code).

A real HTTP server on 127.0.0.1, in a thread: it answers each request with the
next scripted reply (a status code, or ``HANG`` to say nothing for a while),
and records what it got, with the signature verified as the docs say.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import threading
import time
from dataclasses import dataclass, field

HANG = -1


def verify(secret: bytes, timestamp: str, signature: str, body: bytes) -> bool:
    """The docs' few lines, as a receiver would paste them."""
    expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(timestamp)) < 300
    return fresh and hmac.compare_digest(signature, "v1=" + expected)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    at: float


@dataclass
class Receiver:
    secret: bytes
    replies: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    hang_seconds: float = 5.0

    def __post_init__(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.received.append(
                    Received(
                        path=self.path,
                        headers=headers,
                        body=body,
                        verified=verify(
                            receiver.secret,
                            headers.get("pgjobs-timestamp", "0"),
                            headers.get("pgjobs-signature", ""),
                            body,
                        ),
                        at=time.time(),
                    )
                )
                reply = receiver.replies.pop(0) if receiver.replies else 200
                if reply == HANG:
                    time.sleep(receiver.hang_seconds)
                    reply = 200
                self.send_response(reply)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
