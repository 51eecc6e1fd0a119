"""Real servers for the notification tests: an SMTP server (aiosmtpd, in-process on 127.0.0.1)
and an HTTP webhook receiver (http.server in a thread), each recording what it received."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.services import free_port


class _Inbox:
    """aiosmtpd's handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.received_at: list[float] = []  # time.time() of each, for bench/notify_dispatch.py
        self.refused: set[str] = set()  # addresses answered "550 no such mailbox"
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
            self.received_at.append(time.time())
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: _Inbox

    @property
    def messages(self) -> list[EmailMessage]:
        with self.inbox.lock:
            return list(self.inbox.messages)


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on a spare port of 127.0.0.1, for the length of the block."""
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, inbox)
    finally:
        controller.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Answers each POST with the next of `answers` (then 200), and records it."""

    port: int = 0
    answers: list[int] = field(default_factory=list)
    scheme: str = "http"
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/hook"

    def posts(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def next_answer(self) -> int:
        with self.lock:
            return self.answers.pop(0) if self.answers else 200


@contextmanager
def webhook_receiver(
    answers: list[int] | None = None, tls: tuple[Path, Path] | None = None, silent: bool = False
) -> Iterator[WebhookReceiver]:
    """A real HTTP endpoint on a spare port of 127.0.0.1; `answers`: the statuses it answers
    its first POSTs with (say, [500] to fail once); `tls`: its certificate and key (https);
    `silent`: it reads each request and never answers."""
    receiver = WebhookReceiver(answers=list(answers or []), scheme="https" if tls else "http")
    answered = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver.next_answer()
            with receiver.lock:
                receiver.received.append(Received(self.path, dict(self.headers), body))
            if silent:
                answered.wait(30)  # until the test ends: the client gives up first
                return
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="webhook", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        answered.set()
        server.shutdown()
        server.server_close()


def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused."""
    return f"http://127.0.0.1:{free_port()}/hook"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself (openssl), and its key."""
    cert, key = folder / "hook.crt", folder / "hook.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key
