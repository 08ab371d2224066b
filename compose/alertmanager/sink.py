"""Development alert sink: the receiver of compose.dev.yaml's Alertmanager.

Prints each notification Alertmanager posts, one JSON line on stdout with the receiver (the URL
path: /pager or /chat) and the message, so `docker compose logs alert-sink` shows what on-call
would have been sent. Answers 200 "ok" like a Slack incoming webhook. Standard library only.

    python3 sink.py --port 8080
"""

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink(BaseHTTPRequestHandler):
    def do_GET(self):
        self._answer(200 if self.path == "/healthz" else 404)

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        if length > 1 << 20:
            self._answer(413)
            return
        body = self.rfile.read(length).decode("utf-8", "replace")
        try:
            message = json.loads(body)
        except ValueError:
            message = body
        print(json.dumps({"receiver": self.path.strip("/"), "message": message}), flush=True)
        self._answer(200)

    def _answer(self, status):
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok" if status == 200 else b"")

    def log_message(self, *args):
        pass  # the notifications are the log


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Sink)
    print(f"alert sink listening on {args.host}:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
