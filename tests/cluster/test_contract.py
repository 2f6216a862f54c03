"""The root's contract at its edges: leaves of another generation or of
another shard are refused (never mixed into an answer), malformed requests
are 400s with an error type and never a 5xx or a crash, slow clients are cut
off by the connection timeout, a client that disconnects mid-query leaves
the root healthy, keep-alive, traceparent, and the shapes of /healthz,
/readyz, /metrics, /v1/info and a search answer."""
import json
import signal
import socket
import time

import pytest
import sgs

from cluster_conftest import (SLOW, Client, build_index, manifest, metrics, shard_of,
                              vocab_docs)

DOCS = vocab_docs(21, 600, vocab=30)
OTHER = vocab_docs(22, 400, vocab=30, prefix="other")


@pytest.fixture(scope="module")
def idx(tmp_path_factory):
    return build_index(DOCS, tmp_path_factory.mktemp("idx") / "s3", 3)


@pytest.fixture(scope="module")
def served(idx, module_cluster):
    """3 shards x 1 replica and a root with a 1 s connection timeout."""
    leaves = module_cluster.leaves(idx, 3)
    root = module_cluster.root(leaves, "--conn-timeout-s", "1")
    return leaves, root


def _direct_total(leaves, q):
    return sum(Client(leaves[s][0].port).post("/v1/shard/search",
                                              json_body={"q": q, "k": 0}).json["total"]
               for s in leaves)


def test_generation_mismatch_is_refused_never_mixed(idx, tmp_path, cluster):
    other = build_index(OTHER, tmp_path / "other3", 3)
    assert manifest(other)["generation"] != manifest(idx)["generation"]
    good = cluster.leaves(idx, 3)
    stranger = cluster.leaf(other, 0)
    # Shard 0: a replica of the right build and one of another build.
    root = cluster.root({0: [stranger, good[0][0]], 1: good[1], 2: good[2]})
    want = _direct_total(good, "t0 OR t1")
    c = Client(root.port)
    for _ in range(40):
        r = c.search(q="t0 OR t1", k=50)
        assert r.status == 200, r
        a = r.json
        assert a["generation"] == manifest(idx)["generation"], a
        assert all(not h["id"].startswith("other") for h in a["hits"]), a
        assert a["partial"] is False and a["total"]["value"] == want, a
        assert all(d["replica"] != stranger.url for d in a["shards"]["details"]), a
    info = Client(root.port).get("/v1/info").json
    rep = [r for s in info["shards"] for r in s["replicas"] if r["url"] == stranger.url]
    assert rep and rep[0]["ready"] is False, info

    # A shard served only by the stranger never answers.
    root2 = cluster.root({0: [stranger], 1: good[1], 2: good[2]}, wait=False)
    time.sleep(1.0 * SLOW)
    r = Client(root2.port).search(q="t0 OR t1", k=50)
    if r.status == 200:
        a = r.json
        assert a["partial"] is True and a["total"]["relation"] == "gte", a
        assert all(not h["id"].startswith("other") for h in a["hits"]), a
        assert [d["status"] for d in a["shards"]["details"] if d["shard"] == 0] != ["ok"], a
    else:
        assert r.status == 503 and r.json["error"]["type"], r


def test_misrouted_shard_is_refused(idx, cluster):
    good = cluster.leaves(idx, 3)
    want = _direct_total(good, "t0")
    # Shard 0 lists a leaf of shard 1 first, then the right one.
    root = cluster.root({0: [good[1][0], good[0][0]], 1: good[1], 2: good[2]})
    c = Client(root.port)
    for _ in range(30):
        r = c.search(q="t0", k=100)
        assert r.status == 200, r
        a = r.json
        assert a["total"]["value"] == want and a["partial"] is False, a
        ids = [h["id"] for h in a["hits"]]
        assert len(ids) == len(set(ids)), "a shard counted twice: %r" % a
        for h in a["hits"]:
            assert h["shard"] == shard_of(h["id"], 3), a
    # Only the misrouted leaf for shard 0: shard 0 fails, never answers as shard 1.
    root2 = cluster.root({0: [good[1][0]], 1: good[1], 2: good[2]}, wait=False)
    time.sleep(1.0 * SLOW)
    r = Client(root2.port).search(q="t0", k=100)
    if r.status == 200:
        a = r.json
        assert a["partial"] is True and a["total"]["value"] < want, a
        ids = [h["id"] for h in a["hits"]]
        assert len(ids) == len(set(ids)), a
    else:
        assert r.status == 503 and r.json["error"]["type"], r


MALFORMED_POST = [
    b'{"q": "t0"',
    b"not json",
    b"[1, 2]",
    b'"t0"',
    b'{"q": "t0", "bogus": 1}',
    b'{"q": 5}',
    b'{"q": "t0", "k": "ten"}',
    b'{"q": "t0", "k": -1}',
    b'{"q": "t0", "k": 1.5}',
    b'{"q": "t0", "k": 100000000}',
    b'{"q": "t0", "offset": -3}',
    b'{"q": "t0", "timeout_ms": "soon"}',
    b'{"q": "t0", "allow_partial": "yes"}',
    b'{"q": "t0", "fields": "title"}',
    b'{"q": ""}',
    b'{"q": "   "}',
    b'{"q": "!!!"}',
    b'{"q": "-t0"}',
    b'{"q": "t0 OR"}',
    b'{"q": "(t0"}',
    b'{}',
    b'{"k": 3}',
    b'{"q": "t0", "query": {"term": "t0"}}',
    b'{"query": {"and": []}}',
    b'{"query": {"term": 3}}',
    b'{"query": {"phrase": "t0"}}',
    b'{"query": "t0"}',
    b'{"q": "\xff\xfe t0"}',
    b'{"q": "t0 \xc3"}',
    b'{"q": "' + b"(" * 200 + b"t0" + b")" * 200 + b'"}',
    b'{"query": ' + b'{"not": ' * 200 + b'{"term": "t0"}' + b"}" * 200 + b"}",
    b'{"query": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    json.dumps({"q": " ".join("t%d" % (i % 30) for i in range(500))}).encode(),
    json.dumps({"q": "t0 " + "x" * 5000}).encode(),
    b"",
]
MALFORMED_GET = ["/search", "/search?q=", "/search?q=t0&k=ten", "/search?q=t0&k=-1",
                 "/search?q=t0&k=99999999", "/search?q=%FF%FE", "/search?q=t0+OR",
                 "/search?q=-t0", "/search?q=" + "(" * 100 + "t0"]


def _check_error(r, what):
    assert 400 <= r.status < 500, (what, r)
    err = r.json["error"]
    assert isinstance(err["type"], str) and err["type"], (what, r)
    assert isinstance(err["reason"], str) and err["reason"], (what, r)


def test_malformed_requests_are_400_and_the_root_survives(served):
    leaves, root = served
    c = Client(root.port)
    for body in MALFORMED_POST:
        r = c.post("/search", body=body, headers={"Content-Type": "application/json"})
        _check_error(r, body[:80])
        assert r.status == 400, (body[:80], r)
    for path in MALFORMED_GET:
        r = c.get(path)
        _check_error(r, path[:80])
        assert r.status == 400, (path[:80], r)
    big = b'{"q": "t0", "pad": "' + b"x" * (32 << 20) + b'"}'
    try:
        r = Client(root.port).post("/search", body=big)
        _check_error(r, "oversized body")
    except (ConnectionResetError, BrokenPipeError):
        pass  # refused before the whole body was sent: also not a 5xx
    assert root.alive()
    ok = Client(root.port).search(q="t0", k=3)
    assert ok.status == 200 and ok.json["partial"] is False, ok
    c = Client(root.port)  # the 1 s connection timeout closed the old one
    r = c.get("/nowhere")
    assert r.status == 404 and r.json["error"]["type"], r
    r = c.request("DELETE", "/search")
    assert r.status in (404, 405) and r.json["error"]["type"], r


def test_slow_client_is_closed_by_the_connection_timeout(served):
    leaves, root = served
    s = socket.create_connection(("127.0.0.1", root.port), timeout=10 * SLOW)
    try:
        s.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"q\": \"t")
        t0 = time.monotonic()
        data = b""
        while True:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                raise AssertionError("root kept a stalled client for %.0f s" % (10 * SLOW))
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        assert time.monotonic() - t0 < 10 * SLOW
        assert b" 200 " not in data.split(b"\r\n", 1)[0], data
    finally:
        s.close()
    assert Client(root.port).search(q="t0", k=1).status == 200


def test_client_disconnect_mid_query_leaves_the_root_healthy(idx, cluster):
    leaves = cluster.leaves(idx, 3)
    root = cluster.root(leaves)
    before = metrics(root.port)
    sgs.freeze(leaves[0][0])  # the query cannot finish while it waits
    try:
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", root.port), timeout=10)
            body = b'{"q": "t0", "k": 5, "timeout_ms": 5000}'
            s.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            time.sleep(0.2)
            s.close()
        time.sleep(0.3)
    finally:
        leaves[0][0].signal(signal.SIGCONT)
    assert root.alive()
    r = Client(root.port).search(q="t0", k=5)
    assert r.status == 200 and r.json["partial"] is False, r
    # The abandoned leaf requests were cancelled, not left in flight.
    deadline = time.monotonic() + 10 * SLOW
    while True:
        info = Client(root.port).get("/v1/info").json
        busy = [(x["url"], x["in_flight"]) for s in info["shards"] for x in s["replicas"]
                if x["in_flight"]]
        if not busy:
            break
        assert time.monotonic() < deadline, "leaf requests still in flight: %r" % busy
        time.sleep(0.05)
    after = metrics(root.port)
    moved = {k: after.get(k, 0) - before.get(k, 0) for k in after
             if any(w in k for w in ("client_gone", "cancel", "disconnect"))}
    logged = any(w in root.stderr().lower() for w in ("disconnect", "cancel", "client_gone"))
    assert logged or any(v >= 3 for v in moved.values()), (
        "no metric or log shows the disconnects; metrics: %r" % sorted(after)[:80])


def test_keep_alive_traceparent_and_answer_shape(served):
    leaves, root = served
    c = Client(root.port)
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    r1 = c.search(q="t0 OR t1", k=5, fields=["title"])
    sock = c.conn.sock
    r2 = c.get("/search?q=t0+t1&k=2", headers={"traceparent": trace})
    assert r1.status == 200 and r2.status == 200, (r1, r2)
    assert c.conn is not None and c.conn.sock is sock, "second request needed a new connection"
    assert "connection" not in r1.headers or r1.headers["connection"].lower() != "close"
    assert "connection" not in r2.headers or r2.headers["connection"].lower() != "close"
    assert r2.headers.get("traceparent", "").split("-")[1:2] == [trace.split("-")[1]], r2.headers
    minted = r1.headers.get("traceparent")
    assert minted and len(minted.split("-")) == 4, r1.headers

    a = r1.json
    for key in ("took_ms", "timed_out", "partial", "total", "hits", "shards", "generation"):
        assert key in a, (key, a)
    assert a["generation"] == manifest(served_index(leaves))["generation"]
    assert set(a["total"]) == {"value", "relation"} and a["total"]["relation"] == "eq"
    assert a["total"]["value"] == _direct_total(leaves, "t0 OR t1")
    assert len(a["hits"]) == 5
    for h in a["hits"]:
        assert {"id", "score", "shard", "fields"} <= set(h), h
        assert isinstance(h["score"], float) and h["shard"] in (0, 1, 2)
        assert set(h["fields"]) <= {"title"}, h
    scores = [h["score"] for h in a["hits"]]
    assert scores == sorted(scores, reverse=True)
    sh = a["shards"]
    assert (sh["total"], sh["successful"], sh["failed"], sh["timed_out"]) == (3, 3, 0, 0), sh
    assert sorted(d["shard"] for d in sh["details"]) == [0, 1, 2]
    for d in sh["details"]:
        assert {"shard", "status", "replica", "took_ms", "hedged", "hedge_won"} <= set(d), d
        assert d["status"] == "ok" and d["replica"] == leaves[d["shard"]][0].url, d


def served_index(leaves):
    args = leaves[0][0].args
    return args[args.index("--index") + 1]


def test_health_ready_metrics_info_shapes(served):
    leaves, root = served
    c = Client(root.port)
    assert c.get("/healthz").status == 200
    r = c.get("/readyz")
    assert r.status == 200 and r.json["ready"] is True, r
    c.search(q="t0", k=1)
    m = c.get("/metrics")
    assert m.status == 200 and m.headers.get("content-type", "").startswith("text/plain"), m
    text = m.body.decode()
    assert "# TYPE" in text
    assert any(line.startswith("sgs_root_requests_total") for line in text.splitlines()), text[:2000]
    assert any(line.startswith("sgs_root_hedges_sent_total") for line in text.splitlines())
    info = c.get("/v1/info")
    assert info.status == 200, info
    i = info.json
    assert i["version"] and i["generation"] == manifest(served_index(leaves))["generation"]
    assert i["ready"] is True
    assert sorted(s["shard"] for s in i["shards"]) == [0, 1, 2]
    for s in i["shards"]:
        assert [r["url"] for r in s["replicas"]] == [leaves[s["shard"]][0].url]
        for rep in s["replicas"]:
            for key in ("ready", "ejected", "in_flight", "latency_ewma_ms"):
                assert key in rep, (key, rep)
            assert rep["ready"] is True and rep["ejected"] is False, rep
