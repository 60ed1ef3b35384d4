# SPDX-License-Identifier: MIT
"""A WebSocket client for the shell integration tests (standard library only).

Imported by the tests' own Python snippets, never run:

    sys.path.insert(0, os.path.join(os.environ["DIALER_ROOT"], "tests/support"))
    from wsclient import WsClient
    ws = WsClient(port, "/ws/v1/live", headers={"Authorization": "Bearer " + token})
    ws.send_json({"type": "subscribe", "tenant": True})
    m = ws.recv_json(0.05)        # a dict, or None when nothing came within 0.05 s

Loopback only. Text frames of any length; masked client frames; a close frame or a
closed socket raises EOFError. Every wait is bounded by the timeout given.
"""
import base64
import json
import os
import socket
import struct


class WsClient:
    def __init__(self, port, path, headers=None, timeout=10.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        extra = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\n%s\r\n"
                        % (path, base64.b64encode(os.urandom(16)).decode(), extra)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self._exact(1)
        self.status = int(head.split(b"\r\n")[0].split(b" ")[1])
        if self.status != 101:
            raise ConnectionError("upgrade answered %d" % self.status)

    def _exact(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError()
            b += c
        return b

    def send_text(self, text):
        d = text.encode()
        m = os.urandom(4)
        if len(d) < 126:
            ln = bytes([0x80 | len(d)])
        elif len(d) < 65536:
            ln = bytes([0x80 | 126]) + struct.pack("!H", len(d))
        else:
            ln = bytes([0x80 | 127]) + struct.pack("!Q", len(d))
        self.s.sendall(bytes([0x81]) + ln + m + bytes(x ^ m[i % 4] for i, x in enumerate(d)))

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def recv_text(self, timeout):
        """The next text message, or None when no frame starts within timeout seconds."""
        while True:
            self.s.settimeout(timeout)
            try:
                b0, b1 = self._exact(2)
            except socket.timeout:
                return None
            self.s.settimeout(10.0)  # the rest of a frame that has started
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._exact(8))[0]
            p = self._exact(n)
            if b0 & 0x0F == 8:
                raise EOFError()
            if b0 & 0x0F == 1:
                return p.decode(errors="replace")

    def recv_json(self, timeout):
        t = self.recv_text(timeout)
        return None if t is None else json.loads(t)

    def close(self):
        self.s.close()
