#!/usr/bin/env python3
"""Echo upstream for the edge-auth demo and tests (Python 3 standard library only).

Answers every method and path with 200 and a JSON body describing the request as it arrived:

    {"method": "GET", "path": "/a?b=c", "headers": [["host", "localhost"], ...]}

`path` is the raw request target (query included); `headers` is a list of [name, value] pairs in
arrival order with lower-cased names, so duplicated and injected headers stay visible.

    python3 envoy/echo_upstream.py --port 8000 [--host 127.0.0.1]
"""

import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The status line, headers and body leave in one write (buffered, flushed once per request
    # by BaseHTTPRequestHandler), with TCP_NODELAY. Written unbuffered, they went out in two
    # segments, and on a kept-alive connection (Envoy keeps its upstream connections) the
    # second waited for the peer's delayed ACK: about 40 ms per response, on every route.
    wbufsize = -1
    disable_nagle_algorithm = True

    def version_string(self):
        return "echo-upstream"

    def _drain_body(self):
        # Read and discard the body so the connection can be reused; the echo does not include it.
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size_line = self.rfile.readline(65537)
                try:
                    size = int(size_line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    size = 0
                if size == 0:
                    # Trailers (if any) end with an empty line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                self.rfile.read(size + 2)
        try:
            remaining = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            remaining = 0
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                break
            remaining -= len(chunk)

    def _echo(self):
        self._drain_body()
        body = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "headers": [[name.lower(), value] for name, value in self.headers.items()],
            }
        ).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def __getattr__(self, name):
        # Any method, including unusual ones (PURGE, PROPFIND): BaseHTTPRequestHandler
        # dispatches to do_<METHOD>.
        if name.startswith("do_"):
            return self._echo
        raise AttributeError(name)

    def log_message(self, format, *args):
        pass


class EchoServer(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a burst of new connections from several Envoy
    # workers overflows it, the kernel drops the extra SYNs, and the retry comes after Envoy's
    # 1 s connect_timeout: a 503 that has nothing to do with the filter.
    request_queue_size = 128


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()

    server = EchoServer((args.host, args.port), EchoHandler)
    server.daemon_threads = True

    def stop(_signum, _frame):
        # shutdown() blocks until serve_forever returns, so call it off the main thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    host, port = server.server_address[:2]
    print(f"echo upstream listening on {host}:{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
