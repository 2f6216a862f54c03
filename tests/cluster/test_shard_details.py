"""What the root tells a client about each shard: GET /search refuses unknown
and repeated parameters; a timed-out shard names the replica it waited on and
how long; a sub-request moved to another replica after a connection error
is counted as `retried`; 503 answers carry the per-shard details next to the
error; a leaf speaking another root-leaf protocol version is a per-shard
`protocol_mismatch`, never mixed into an answer; a full root answers 429
with Retry-After."""
import glob
import http.server
import json
import signal
import socketserver
import struct
import threading
import time
import urllib.parse

import pytest

from cluster_conftest import SLOW, Client, build_index, manifest, vocab_docs

DOCS = vocab_docs(31, 600, vocab=30)
# Probes far apart: a stopped or killed leaf stays "ready" in the root's eyes,
# so the query path itself meets the failure.
QUIET = ["--hedge-budget", "0", "--probe-interval-ms", "60000", "--probe-timeout-ms", "60000"]


@pytest.fixture(scope="module")
def idx(tmp_path_factory):
    return build_index(DOCS, tmp_path_factory.mktemp("idx") / "s3", 3)


@pytest.fixture(scope="module")
def served(idx, module_cluster):
    leaves = module_cluster.leaves(idx, 3)
    root = module_cluster.root(leaves)
    return leaves, root


def _sigstop(proc):
    """SIGSTOP, then waits until every thread of proc is stopped (a thread
    running on another CPU stops a little later)."""
    proc.signal(signal.SIGSTOP)
    deadline = time.monotonic() + 10 * SLOW
    while True:
        states = []
        for stat in glob.glob("/proc/%d/task/*/stat" % proc.pid):
            try:
                with open(stat) as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                pass
        if states and all(st in ("T", "t") for st in states):
            return
        assert time.monotonic() < deadline, "%s not stopped: %r" % (proc.name, states)
        time.sleep(0.005)


def _detail(answer, shard):
    [d] = [d for d in answer["shards"]["details"] if d["shard"] == shard]
    return d


# ------------------------------------------------------------ GET parameters


@pytest.mark.parametrize("query, name", [
    ("q=t0&bogus=1", "bogus"),
    ("q=t0&K=5&k=5", "k"),
    ("q=t0&k=5&k=6", "k"),
    ("q=t0&q=t1", "q"),
    ("q=t0&timeout_ms=100&timeout_ms=200", "timeout_ms"),
    ("q=t0&size=10", "size"),
    ("q=t0&fields=title&fields=body", "fields"),
    ("q=t0&flag", "flag"),
])
def test_get_unknown_or_repeated_parameter_is_400_naming_it(served, query, name):
    _, root = served
    c = Client(root.port)
    r = c.get("/search?" + query)
    assert r.status == 400, r
    err = r.json["error"]
    assert err["type"] == "bad_request" and "'%s'" % name in err["reason"], err
    # The same connection still serves a good request.
    good = c.get("/search?" + urllib.parse.urlencode(
        {"q": "t0", "k": 3, "offset": 1, "timeout_ms": 2000, "allow_partial": "true",
         "fields": "title"}))
    assert good.status == 200 and len(good.json["hits"]) == 3, good


# ------------------------------------------------------------ timeouts, retries


def test_timed_out_shard_names_the_replica_and_the_time_waited(idx, cluster):
    leaves = cluster.leaves(idx, 3)
    root = cluster.root(leaves, *QUIET)
    stuck = leaves[1][0]
    timeout_ms = 400
    _sigstop(stuck)
    try:
        r = Client(root.port).search(q="t0", timeout_ms=timeout_ms)
    finally:
        stuck.signal(signal.SIGCONT)
    assert r.status == 200, r
    a = r.json
    assert a["timed_out"] is True and a["partial"] is True and a["shards"]["timed_out"] == 1, a
    d = _detail(a, 1)
    assert d["status"] == "timed_out", d
    assert d["replica"] == stuck.url and d["waiting_on"] == [stuck.url], d
    # It waited (close to) the whole deadline, not 0.
    assert d["took_ms"] >= timeout_ms * 0.5, d
    assert d["error_type"] == "timeout" and d["error"], d
    assert d["retried"] == 0, d
    for s in (0, 2):
        ok = _detail(a, s)
        assert ok["status"] == "ok" and "waiting_on" not in ok and "error" not in ok, ok
        assert ok["replica"] == leaves[s][0].url, ok


def test_connection_error_is_retried_on_another_replica_and_counted(idx, cluster):
    leaves = cluster.leaves(idx, 3, replicas=2)
    root = cluster.root(leaves, *QUIET)
    c = Client(root.port)
    for _ in range(5):  # warm keep-alive connections to every replica
        assert c.search(q="t0").status == 200
    dead, alive = leaves[0][1], leaves[0][0]
    dead.kill9()
    retried = 0
    for _ in range(200):
        if retried >= 2:
            break
        r = c.search(q="t0 OR t1", k=5)
        assert r.status == 200, r
        a = r.json
        assert a["partial"] is False and a["shards"]["failed"] == 0, a
        d = _detail(a, 0)
        assert d["replica"] == alive.url, d
        if d["retried"]:
            assert d["retried"] == 1, d
            retried += 1
        for s in (1, 2):
            assert _detail(a, s)["retried"] == 0, a
    info = [r for sh in c.get("/v1/info").json["shards"] for r in sh["replicas"]
            if r["url"] == dead.url]
    assert retried > 0, ("no answer says it was retried after the replica died", info)


# ------------------------------------------------------------ 503 bodies


def test_503_bodies_carry_the_per_shard_details(idx, cluster):
    leaves = cluster.leaves(idx, 3)
    root = cluster.root(leaves, *QUIET)
    down = leaves[2][0]
    down.kill9()
    c = Client(root.port)
    r = c.search(q="t0", allow_partial=False)
    assert r.status == 503, r
    a = r.json
    assert a["error"]["type"] == "unavailable" and a["error"]["reason"], a
    sh = a["shards"]
    assert sh["total"] == 3 and sh["successful"] == 2 and sh["failed"] == 1, a
    d = _detail(a, 2)
    assert d["status"] == "failed" and d["replica"] == down.url, d
    assert d["error_type"] == "connection_error" and d["error"], d
    assert _detail(a, 0)["status"] == "ok" and "hits" not in a, a

    # Every leaf down: still the details, each shard failed with its reason.
    for s in (0, 1):
        leaves[s][0].kill9()
    r = c.search(q="t0")
    assert r.status == 503, r
    a = r.json
    assert a["error"]["type"] == "unavailable", a
    assert a["shards"]["successful"] == 0 and a["shards"]["failed"] == 3, a
    for s in range(3):
        d = _detail(a, s)
        assert d["status"] == "failed" and d["error"] and d["error_type"], d


# ------------------------------------------------------------ protocol version


class FakeLeaf:
    """A leaf impostor on loopback: /healthz, /readyz and /v1/shard/info
    answer like a leaf of shard `shard` at `generation`, but info reports
    `info_protocol` and searches answer the binary form with version byte
    `wire_version`."""

    def __init__(self, shard, generation, info_protocol, wire_version):
        fake = self
        self.searches = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, body, ctype="application/json"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/v1/shard/info":
                    self._send(200, json.dumps({
                        "shard": shard, "shard_count": 3, "generation": generation,
                        "n_docs": 1, "corpus_n_docs": 3, "ready": True, "draining": False,
                        "protocol": info_protocol, "version": "9.9.9", "reloads": 0,
                        "reload_failures": 0, "last_reload_error": ""}).encode())
                elif self.path in ("/readyz", "/healthz"):
                    self._send(200, b'{"ready":true}')
                else:
                    self._send(404, b'{"error":{"type":"not_found","reason":"no"}}')

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(n)
                fake.searches += 1
                # An answer header of another version: one hit-free shard answer.
                body = (b"SGSR" + struct.pack("<HHIIQQII", wire_version, 0, shard, 0,
                                              int(generation, 16), 0, 0, 0))
                self._send(200, body, "application/x-sgs-v%d" % wire_version)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_leaf():
    made = []

    def make(*args):
        f = FakeLeaf(*args)
        made.append(f)
        return f
    yield make
    for f in made:
        f.close()


def _wait_info(root, pred, what, timeout=10):
    deadline = time.monotonic() + timeout * SLOW
    while True:
        info = Client(root.port).get("/v1/info").json
        if pred(info):
            return info
        if time.monotonic() > deadline:
            raise AssertionError("not within %.0f s: %s; /v1/info: %r" % (timeout * SLOW, what,
                                                                          info))
        time.sleep(0.05)


@pytest.mark.parametrize("where", ["info", "wire"])
def test_leaf_of_another_protocol_is_a_per_shard_protocol_mismatch(idx, cluster, fake_leaf,
                                                                   where):
    gen = manifest(idx)["generation"]
    leaves = cluster.leaves(idx, 3)
    # Shard 0: only the impostor. "info": it says protocol 2 in /v1/shard/info.
    # "wire": it says protocol 1 there but answers searches in version 2.
    fake = fake_leaf(0, gen, 2 if where == "info" else 1, 1 if where == "info" else 2)
    root = cluster.root({0: [fake.url], 1: leaves[1], 2: leaves[2]}, wait=False)
    info = _wait_info(root, lambda i: all(r["ready"] for s in i["shards"][1:]
                                          for r in s["replicas"]) and
                      (i["shards"][0]["replicas"][0]["ready"] if where == "wire"
                       else i["shards"][0]["replicas"][0]["last_error"]),
                      "shards 1 and 2 ready and the impostor probed")
    want = sum(Client(leaves[s][0].port).post("/v1/shard/search", json_body={
        "q": "t0 OR t1", "k": 0}).json["total"] for s in (1, 2))
    r = Client(root.port).search(q="t0 OR t1", k=50)
    assert r.status == 200, r
    a = r.json
    assert a["partial"] is True and a["total"]["relation"] == "gte", a
    assert a["total"]["value"] == want, a
    assert all(h["shard"] != 0 for h in a["hits"]), a
    d = _detail(a, 0)
    assert d["status"] == "failed" and d["error_type"] == "protocol_mismatch", d
    assert "protocol" in d["error"], d
    if where == "info":
        rep = info["shards"][0]["replicas"][0]
        assert rep["ready"] is False and rep["last_error"].startswith("protocol_mismatch"), info
        assert "protocol 2" in d["error"], d
        assert fake.searches == 0, "a leaf of another protocol was sent a search"
        assert Client(root.port).get("/readyz").status == 503
    else:
        assert fake.searches >= 1
        assert "protocol version 2" in d["error"], d
    # The other shards answer whole.
    for s in (1, 2):
        assert _detail(a, s)["status"] == "ok", a


# ------------------------------------------------------------ admission


def test_full_root_answers_429_with_retry_after(idx, cluster):
    leaves = cluster.leaves(idx, 3)
    root = cluster.root(leaves, "--max-inflight", "1", *QUIET)
    stuck = leaves[0][0]
    _sigstop(stuck)
    held = {}

    def hold():
        # Retried while one of the probes below holds the only slot.
        while "r" not in held or held["r"].status == 429:
            held["r"] = Client(root.port).search(q="t0", timeout_ms=int(4000 * SLOW))

    t = threading.Thread(target=hold)
    try:
        t.start()
        # /healthz is answered at once, yet counts as in flight while it runs:
        # its 429 says the held query has the slot.
        deadline = time.monotonic() + 10 * SLOW
        c = Client(root.port)
        while c.get("/healthz").status != 429:
            assert time.monotonic() < deadline, "the held query never took the only slot"
            time.sleep(0.01)
        r = c.search(q="t1", timeout_ms=50)
    finally:
        stuck.signal(signal.SIGCONT)
        t.join(30)
    assert r.status == 429, r
    assert r.json["error"]["type"] == "too_many_requests", r
    assert r.headers.get("retry-after", "").isdigit() and int(r.headers["retry-after"]) >= 1, \
        r.headers
    assert held["r"].status == 200, held


# ------------------------------------------------------------ fields, k, offset


def test_unknown_stored_field_is_400_naming_it(served):
    leaves, root = served
    assert Client(leaves[0][0].port).get("/v1/shard/info").json["stored_fields"] == ["title"]
    c = Client(root.port)
    ok = c.search(q="t0", k=3, fields=["title"])
    assert ok.status == 200 and all(set(h["fields"]) == {"title"} for h in ok.json["hits"]), ok
    none = c.search(q="t0", k=3, fields=[])
    assert none.status == 200 and all(h["fields"] == {} for h in none.json["hits"]), none
    for fields in (["body"], ["title", "nope"], ["Title"]):
        r = c.search(q="t0", fields=fields)
        assert r.status == 400, (fields, r)
        err = r.json["error"]
        assert err["type"] == "bad_request", err
        assert "'%s'" % fields[-1] in err["reason"] and "title" in err["reason"], err
    r = c.get("/search?q=t0&fields=title,bogus")
    assert r.status == 400 and "'bogus'" in r.json["error"]["reason"], r
    assert c.get("/search?q=t0&fields=title").status == 200


MAX_K = 1000        # --max-k default
MAX_WINDOW = 10000  # offset + k


@pytest.mark.parametrize("how", ["get", "post"])
def test_k_and_offset_past_their_maxima_are_400_naming_them(served, how):
    _, root = served
    c = Client(root.port)

    def search(**p):
        if how == "get":
            q = dict(p, q="t0")
            return c.get("/search?" + urllib.parse.urlencode(q))
        return c.search(q="t0", **p)

    assert search(k=MAX_K).status == 200
    assert search(k=0).status == 200
    assert search(k=10, offset=MAX_WINDOW - 10).status == 200
    for params, name, limit in (({"k": MAX_K + 1}, "k", MAX_K),
                                ({"k": 10, "offset": MAX_WINDOW - 9}, "offset", MAX_WINDOW),
                                ({"offset": MAX_WINDOW}, "offset", MAX_WINDOW)):
        r = search(**params)
        assert r.status == 400, (params, r)
        err = r.json["error"]
        assert err["type"] == "k_too_large", (params, err)
        assert name in err["reason"] and str(limit) in err["reason"], (params, err)
    for params, name in (({"k": 10 ** 7}, "k"), ({"offset": 10 ** 7}, "offset")):
        r = search(**params)
        assert r.status == 400 and r.json["error"]["type"] == "k_too_large", (params, r)
        assert name in r.json["error"]["reason"], r
    for params in ({"k": 10 ** 12}, {"offset": 10 ** 12}, {"k": -1}):
        r = search(**params)
        assert r.status == 400 and r.json["error"]["type"] == "bad_request", (params, r)
