"""A small blocking websocket client (RFC 6455), for the drills: a real TCP connection to the real web server.

The drills restart the web server and Redis under open sockets, so they need a client outside the ASGI
process (the channels test communicator runs the app in the test's own process and never sees a restart).
Only what a console needs: text and binary frames, ping answered, close seen.
"""
from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time


class Closed(Exception):
    """The connection ended: ``code`` from the server's close frame, or 1006 when the TCP connection dropped."""

    def __init__(self, code: int):
        super().__init__(f"closed ({code})")
        self.code = code


class WebSocket:
    """One websocket connection to ``host:port`` at ``path`` with extra request ``headers``."""

    def __init__(self, host: str, port: int, path: str, headers: dict[str, str], timeout: float = 10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise Closed(1006)
            answer += chunk
        head, _, self.buffer = answer.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise Closed(int(status.split()[1]) if len(status.split()) > 1 else 1006)
        self.closed: int | None = None

    # -- sending ---------------------------------------------------------------------------------
    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        try:
            self.sock.sendall(header + mask + masked)
        except OSError:
            raise Closed(1006) from None

    def send_json(self, message: dict) -> None:
        self._send(0x1, json.dumps(message).encode())

    def close(self) -> None:
        """Close it as a browser tab that goes away does (code 1001), and drop the TCP connection."""
        try:
            self._send(0x8, struct.pack("!H", 1001))
        except Closed:
            pass
        self.sock.close()

    # -- receiving -------------------------------------------------------------------------------
    def _read(self, count: int, deadline: float) -> bytes:
        while len(self.buffer) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError from None
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = 1006
                raise Closed(1006)
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def receive(self, timeout: float) -> str | bytes:
        """The next text (str) or binary (bytes) message; :class:`Closed` or ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        message, kind = b"", None
        while True:
            first, second = self._read(2, deadline)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read(2, deadline))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read(8, deadline))[0]
            payload = self._read(length, deadline)
            if opcode == 0x8:
                self.closed = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.sock.close()
                raise Closed(self.closed)
            if opcode == 0x9:
                self._send(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if opcode in (0x1, 0x2):
                kind = opcode
            message += payload
            if first & 0x80:
                return message.decode() if kind == 0x1 else message
