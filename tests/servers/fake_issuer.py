#!/usr/bin/env python3
"""A scriptable token issuer for edge-auth's end-to-end tests (Python 3 standard library only).

Serves what a real issuer serves, and lets the test change it and count what was asked:

    GET  <any>/.well-known/openid-configuration   the discovery document (set by the test)
    GET  /jwks                                    the JWK Set (set by the test)
    POST /introspect                              RFC 7662 answers (set by the test, per token)
    GET  /revoked.json                            the revocation list (set by the test)

Control endpoints, for the test only:

    PUT /_control/jwks            body: the JWK Set to serve from now on
    PUT /_control/discovery       body: the discovery document to serve from now on
    PUT /_control/revocation      body: the revocation list to serve from now on
    PUT /_control/mode?path=P     body: how to answer requests for P: "ok", "status 503",
                                  "garbage", "delay 1500" (milliseconds, then ok), "drop"
                                  (close the connection without an answer)
    GET /_control/count?path=P    how many requests for P were answered or dropped so far
    GET /_control/last?path=P     the last request for P: {"headers": {...}, "body": "..."}

    python3 tests/servers/fake_issuer.py --port 8100
"""

import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
STATE = {
    "jwks": b'{"keys": []}',
    "discovery": b"{}",
    "revocation": b'{"version": 1}',
    "introspection": {},  # token -> JSON answer
    "modes": {},
    "counts": {},
    "last": {},
}


class IssuerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args):
        pass

    def _body(self):
        length = int(self.headers.get("Content-Length", "0") or "0")
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _serve(self, path, body, request_body=b""):
        with LOCK:
            STATE["counts"][path] = STATE["counts"].get(path, 0) + 1
            STATE["last"][path] = {
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": request_body.decode("utf-8", "replace"),
            }
            mode = STATE["modes"].get(path, "ok")
        if mode == "drop":
            self.close_connection = True
            self.connection.close()
            return
        if mode.startswith("delay "):
            time.sleep(int(mode.split()[1]) / 1000.0)
        elif mode.startswith("status "):
            self._send(int(mode.split()[1]), b'{"error": "scripted failure"}')
            return
        elif mode == "garbage":
            self._send(200, b"<html>this is not a key set</html>", "text/html")
            return
        self._send(200, body)

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/_control/count":
            with LOCK:
                count = STATE["counts"].get(query.get("path", [""])[0], 0)
            self._send(200, json.dumps(count).encode())
        elif url.path == "/_control/last":
            with LOCK:
                last = STATE["last"].get(query.get("path", [""])[0])
            self._send(200, json.dumps(last).encode())
        elif url.path.endswith("/.well-known/openid-configuration"):
            with LOCK:
                body = STATE["discovery"]
            self._serve(url.path, body)
        elif url.path in ("/jwks", "/revoked.json"):
            with LOCK:
                body = STATE["jwks" if url.path == "/jwks" else "revocation"]
            self._serve(url.path, body)
        else:
            self._send(404, b'{"error": "not found"}')

    def do_POST(self):
        url = urlsplit(self.path)
        body = self._body()
        if url.path == "/introspect":
            form = parse_qs(body.decode("utf-8", "replace"))
            token = form.get("token", [""])[0]
            with LOCK:
                answer = STATE["introspection"].get(token, {"active": False})
            self._serve(url.path, json.dumps(answer).encode(), body)
        else:
            self._send(404, b'{"error": "not found"}')

    def do_PUT(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        body = self._body()
        with LOCK:
            if url.path == "/_control/jwks":
                STATE["jwks"] = body
            elif url.path == "/_control/discovery":
                STATE["discovery"] = body
            elif url.path == "/_control/revocation":
                STATE["revocation"] = body
            elif url.path == "/_control/introspection":
                STATE["introspection"] = json.loads(body)
            elif url.path == "/_control/mode":
                STATE["modes"][query.get("path", [""])[0]] = body.decode().strip()
            else:
                self._send(404, b'{"error": "not found"}')
                return
        self._send(200, b"{}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), IssuerHandler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"fake issuer listening on {args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
