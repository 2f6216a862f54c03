"""A keep-alive HTTP/1.1 test server for the sgs-bench tests, written here so
the tests depend on nothing but Python: it answers every request with a small
root-shaped JSON body and can stall once, for a set time, as a whole (every
request that arrives meanwhile waits too), like a process frozen by SIGSTOP.

Query-string conventions (q=...): `status<NNN>` answers with that status,
`partial` answers "partial": true. Every answer lists two shard details, the
first hedged and won, the second neither."""
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def _answer(self, q):
        srv = self.server
        with srv.lock:
            srv.count += 1
            n = srv.count
        if srv.pause_at and n == srv.pause_at:
            srv.running.clear()
            srv.paused.set()
            threading.Event().wait(srv.pause_s)
            srv.running.set()
        else:
            srv.running.wait()
        status = 200
        if q.startswith("status") and q[6:].isdigit():
            status = int(q[6:])
        body = json.dumps({
            "took_ms": 0, "partial": q == "partial", "hits": [],
            "shards": {"total": 2, "details": [
                {"shard": 0, "status": "ok", "hedged": True, "hedge_won": True},
                {"shard": 1, "status": "ok", "hedged": False, "hedge_won": False}]},
        }).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        qs = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        self._answer(qs.get("q", [""])[0])

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n) or b"{}")
        self._answer(str(body.get("q", "")))


class BenchServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, pause_at=0, pause_s=1.0):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.count = 0
        self.pause_at = pause_at
        self.pause_s = pause_s
        self.running = threading.Event()
        self.running.set()
        self.paused = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def handle_error(self, request, client_address):
        pass  # clients that time out close mid-answer; that is expected here

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()
