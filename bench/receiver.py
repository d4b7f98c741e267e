"""A local webhook receiver for benchmarks: answers 200 after DELAY seconds; `/hang` answers after a minute."""

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(60 if self.path.startswith("/hang") else DELAY)
        try:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:
            pass  # the sender gave up first (its timeout), as it should with /hang

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # must be set before listen(): the default backlog of 5 drops connects


if __name__ == "__main__":
    DELAY = float(sys.argv[2])
    server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    server.serve_forever()
