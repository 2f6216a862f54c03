"""sgs-root against real leaves on loopback: sharded answers equal the
unsharded ones, failures are reported honestly (partial, gte, failed or
timed_out shards, 503s), replicas are chosen, ejected and readmitted,
stragglers are hedged, mixed generations and misrouted leaves are refused,
bad requests are 400s. Every test is seconds long; none asserts on timing
beyond "within the timeout"."""
import json
import os
import signal
import socket
import threading
import time

import pytest

import sgs

pytestmark = pytest.mark.skipif(not os.path.exists(sgs.SGS_ROOT), reason="sgs-root not built")

N_DOCS = 600


@pytest.fixture(scope="module")
def docs():
    return sgs.synthetic_docs(4242, N_DOCS)


@pytest.fixture(scope="module")
def indexes(tmp_path_factory, docs):
    base = tmp_path_factory.mktemp("idx")
    gen = 0x1234abcd5678ef01
    return {n: sgs.build_index(docs, base / ("s%d" % n), n, generation=gen) for n in (1, 2, 3, 4, 8)}


@pytest.fixture(scope="module")
def other_gen_index(tmp_path_factory, docs):
    base = tmp_path_factory.mktemp("idx-other")
    return sgs.build_index(docs, base / "s2", 2, generation=0x0fedcba987654321)


def vocab(docs):
    counts = {}
    for d in docs:
        for t in sgs.doc_tokens(d):
            counts[t] = counts.get(t, 0) + 1
    return [t for t, _ in sorted(counts.items(), key=lambda x: -x[1])]


def start_leaves(index, shards, replicas=1, tmp=None):
    return {s: [sgs.Leaf(index, shard=s, threads=1, tmp_dir=tmp) for _ in range(replicas)]
            for s in range(shards)}


def urls(leaves):
    return {s: [l.url for l in ls] for s, ls in leaves.items()}


def stop_all(*groups):
    for g in groups:
        if isinstance(g, dict):
            for ls in g.values():
                for l in ls:
                    l.kill()
        else:
            g.kill()


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def leaf_answer(h, q, k):
    r = h.post("/v1/shard/search", json_body={"q": q, "k": k}, headers={"Accept": "application/json"})
    return r


def test_sharded_equals_single(indexes, docs, tmp_path, seed):
    single = sgs.Leaf(indexes[1], shard=0, threads=1, tmp_dir=tmp_path)
    gen = sgs.QueryGen(seed, vocab(docs))
    queries = [gen.as_string(gen.query()) for _ in range(150)]
    try:
        for n in (1, 3, 8):
            leaves = start_leaves(indexes[n], n, tmp=tmp_path)
            root = sgs.Root(urls(leaves), tmp_dir=tmp_path)
            try:
                with sgs.Http(single.url) as lh, sgs.Http(root.url) as rh:
                    for i, q in enumerate(queries):
                        k = (1, 5, 10, 50)[i % 4]
                        want = leaf_answer(lh, q, k)
                        got = rh.post("/search", json_body={"q": q, "k": k})
                        if want.status != 200:
                            assert got.status == 400, (n, q, want, got)
                            assert got.json["error"]["type"] == want.json["error"]["type"], (q, got)
                            continue
                        assert got.status == 200, (n, q, got)
                        g, w = got.json, want.json
                        assert not g["partial"] and g["total"]["relation"] == "eq"
                        assert g["total"]["value"] == w["total"], (n, q)
                        assert g["shards"]["successful"] == n
                        assert g["generation"] == "1234abcd5678ef01"
                        gh = [(h["id"], h["score"], h["fields"]) for h in g["hits"]]
                        wh = [(h["id"], h["score"], h["fields"]) for h in w["hits"]]
                        assert len(gh) == len(wh), (n, q)
                        for a, b in zip(gh, wh):
                            assert a[0] == b[0], (n, q, gh, wh)
                            assert sgs.close(a[1], b[1]), (n, q, a, b)
                            assert a[2] == b[2]
                        for h in g["hits"]:
                            assert sgs.shard_of(h["id"], n) == h["shard"]
            finally:
                root.stop()
                stop_all(leaves)
    finally:
        single.stop()


def test_offset_fields_get_and_keep_alive(indexes, tmp_path):
    leaves = start_leaves(indexes[3], 3, tmp=tmp_path)
    root = sgs.Root(urls(leaves), tmp_dir=tmp_path)
    try:
        with sgs.Http(root.url) as h:
            full = h.get("/search?q=filler+OR+w1+OR+w2&k=20").json
            page = h.post("/search", json_body={"q": "filler OR w1 OR w2", "k": 5, "offset": 10,
                                                "fields": []}).json
            assert [x["id"] for x in page["hits"]] == [x["id"] for x in full["hits"][10:15]]
            assert all(x["fields"] == {} for x in page["hits"])
            # One connection carried every request: keep-alive holds.
            sock = h.conn.sock
            for _ in range(5):
                assert h.get("/search?q=w1&k=3").status == 200
            assert h.conn is not None and h.conn.sock is sock
            tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            r = h.get("/search?q=w1", headers={"traceparent": tp})
            assert r.headers["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")
            info = h.get("/v1/info").json
            assert info["ready"] and len(info["shards"]) == 3
            assert h.get("/healthz").status == 200
            assert "sgs_root_leaf_requests_total" in h.get("/metrics").body.decode()
    finally:
        root.stop()
        stop_all(leaves)


def test_malformed_requests_are_400(indexes, tmp_path):
    leaves = start_leaves(indexes[2], 2, tmp=tmp_path)
    root = sgs.Root(urls(leaves), tmp_dir=tmp_path)
    bad = [
        ("GET", "/search", None, "bad_request"),
        ("GET", "/search?q=", None, "bad_request"),
        ("GET", "/search?q=a&k=x", None, "bad_request"),
        ("GET", "/search?q=a&k=-1", None, "bad_request"),
        ("GET", "/search?q=a&k=100000", None, "k_too_large"),
        ("GET", "/search?q=(a", None, "invalid_query"),
        ("GET", "/search?q=-a", None, "invalid_query"),
        ("POST", "/search", b"{", "invalid_json"),
        ("POST", "/search", b"[]", "bad_request"),
        ("POST", "/search", b'{"q":"a","nope":1}', "bad_request"),
        ("POST", "/search", b'{"q":"a","query":{"term":"a"}}', "bad_request"),
        ("POST", "/search", b'{"q":5}', "bad_request"),
        ("POST", "/search", b'{"query":{"bad":"a"}}', "invalid_query"),
        ("POST", "/search", b'{"q":"a","k":"10"}', "bad_request"),
        ("POST", "/search", b'{"q":"a","fields":"title"}', "bad_request"),
        ("POST", "/search", b'{"q":"a","allow_partial":1}', "bad_request"),
        ("POST", "/search", json.dumps({"q": "a " * 3000}).encode(), "query_too_long"),
    ]
    try:
        with sgs.Http(root.url) as h:
            for method, path, body, typ in bad:
                r = h.request(method, path, body=body)
                assert r.status == 400, (path, body, r)
                assert r.json["error"]["type"] == typ, (path, body, r)
            assert h.get("/search?q=w1").status == 200
    finally:
        root.stop()
        stop_all(leaves)


def test_whole_shard_down(indexes, tmp_path):
    leaves = start_leaves(indexes[2], 2, tmp=tmp_path)
    root = sgs.Root(urls(leaves), "--default-timeout-ms", "2000", tmp_dir=tmp_path)
    try:
        leaves[1][0].kill()
        with sgs.Http(root.url) as h:
            for _ in range(5):
                r = h.get("/search?q=w1+OR+filler&k=10")
                assert r.status == 200, r
                j = r.json
                assert j["partial"] and j["total"]["relation"] == "gte"
                assert j["shards"]["failed"] + j["shards"]["timed_out"] == 1
                d = j["shards"]["details"][1]
                assert d["status"] == "failed" and d["error"], d
                assert all(x["shard"] == 0 for x in j["hits"])
                r = h.post("/search", json_body={"q": "w1", "allow_partial": False})
                assert r.status == 503 and r.json["error"]["type"] == "unavailable", r
            leaves[0][0].kill()
            t0 = time.monotonic()
            r = h.post("/search", json_body={"q": "w1", "timeout_ms": 1000})
            assert r.status == 503, r
            assert time.monotonic() - t0 < 1.0 * sgs.SLOW + 2
            assert h.get("/readyz").status in (200, 503)
    finally:
        root.stop()
        stop_all(leaves)


def steady_load(url, stop, results, q="w1 OR filler"):
    with sgs.Http(url) as h:
        while not stop.is_set():
            try:
                r = h.post("/search", json_body={"q": q, "k": 5, "timeout_ms": 3000})
                results.append((r.status, r.json.get("partial"), r.json))
            except OSError as e:
                results.append((0, None, str(e)))


def wait_info(url, pred, timeout=20):
    deadline = time.monotonic() + timeout * sgs.SLOW
    while time.monotonic() < deadline:
        info = sgs.http_get(url, "/v1/info").json
        if pred(info):
            return info
        time.sleep(0.1)
    raise AssertionError("condition not reached; /v1/info: %s" % json.dumps(info))


def test_replica_kill_under_load(indexes, tmp_path):
    leaves = start_leaves(indexes[4], 4, replicas=2, tmp=tmp_path)
    root = sgs.Root(urls(leaves), "--eject-base-ms", "200", tmp_dir=tmp_path)
    stop = threading.Event()
    results = []
    threads = [threading.Thread(target=steady_load, args=(root.url, stop, results))
               for _ in range(2)]
    try:
        for t in threads:
            t.start()
        time.sleep(0.5)
        ports = {}
        for s in range(4):
            ports[s] = leaves[s][0].port
            leaves[s][0].kill()  # SIGKILL
        time.sleep(1.0)
        # Restart each on its old port; it must come back into rotation.
        for s in range(4):
            leaves[s][0] = sgs.Leaf(indexes[4], "--listen", "127.0.0.1:%d" % ports[s], shard=s,
                                    threads=1, tmp_dir=tmp_path)
        wait_info(root.url, lambda i: all(r["ready"] for sh in i["shards"] for r in sh["replicas"]))
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    try:
        assert len(results) > 20
        bad = [r for r in results if r[0] != 200 or r[1]]
        assert not bad, bad[:3]
        m = sgs.http_get(root.url, "/metrics").body.decode()
        assert metric(m, "sgs_root_retries_total") + metric(m, "sgs_root_leaf_failures_total") >= 0
    finally:
        root.stop()
        stop_all(leaves)


def test_straggler_is_hedged(indexes, tmp_path):
    leaves = start_leaves(indexes[2], 2, replicas=2, tmp=tmp_path)
    root = sgs.Root(urls(leaves), "--hedge-max-ms", "50", "--hedge-min-ms", "1",
                    "--probe-interval-ms", "200", "--probe-timeout-ms", "300",
                    "--hedge-budget", "0.2", tmp_dir=tmp_path)
    stopped = leaves[0][0]
    try:
        with sgs.Http(root.url) as h:
            for _ in range(30):
                assert h.get("/search?q=w1").status == 200
            # Freeze the replica of shard 0 the root prefers (the lower
            # latency estimate): the other one gets only exploration picks,
            # which 60 queries can all miss.
            reps = h.get("/v1/info").json["shards"][0]["replicas"]
            best = min(reps, key=lambda x: x["latency_ewma_ms"])["url"]
            stopped = [lf for lf in leaves[0] if lf.url == best][0]
            sgs.freeze(stopped)
            for i in range(60):
                r = h.post("/search", json_body={"q": "w%d" % (i % 9 + 1), "timeout_ms": 2000})
                assert r.status == 200, r
                assert not r.json["partial"], r.json
            m = h.get("/metrics").body.decode()
            assert metric(m, "sgs_root_hedges_sent_total") >= 1, m
            assert metric(m, "sgs_root_hedges_won_total") >= 1, m
    finally:
        stopped.signal(signal.SIGCONT)
        root.stop()
        stop_all(leaves)


def test_hedge_floor_takes_fractions_of_a_ms(indexes, tmp_path):
    """--hedge-min-ms takes a fraction of a millisecond and the delay /v1/info
    reports stays within [floor, ceiling]; a negative floor or one above the
    ceiling is a usage error."""
    import subprocess
    for bad in (["--hedge-min-ms", "-0.5"], ["--hedge-min-ms", "3", "--hedge-max-ms", "2"]):
        p = subprocess.run([sgs.SGS_ROOT, "--listen", "127.0.0.1:0", "--shard",
                            "0=http://127.0.0.1:9"] + bad, capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 2 and "--hedge-min-ms" in p.stderr, (bad, p.returncode, p.stderr)
    leaves = start_leaves(indexes[2], 2, replicas=1, tmp=tmp_path)
    root = sgs.Root(urls(leaves), "--hedge-min-ms", "0.25", "--hedge-max-ms", "1",
                    tmp_dir=tmp_path)
    try:
        with sgs.Http(root.url) as h:
            for i in range(40):
                assert h.get("/search?q=w%d" % (i % 9 + 1)).status == 200
            time.sleep(0.3)  # the delay is recomputed every 100 ms
            delays = [s["hedge_delay_ms"] for s in h.get("/v1/info").json["shards"]]
            assert all(0.25 <= d <= 1 for d in delays), delays
    finally:
        root.stop()
        stop_all(leaves)


def test_straggler_without_hedging_shows(indexes, tmp_path):
    leaves = start_leaves(indexes[2], 2, replicas=2, tmp=tmp_path)
    root = sgs.Root(urls(leaves), "--hedge-budget", "0", "--probe-interval-ms", "5000",
                    "--probe-timeout-ms", "5000", tmp_dir=tmp_path)
    stopped = leaves[0][0]
    try:
        with sgs.Http(root.url) as h:
            sgs.freeze(stopped)
            slow = 0
            for i in range(20):
                r = h.post("/search", json_body={"q": "w1", "timeout_ms": 300})
                assert r.status == 200, r
                j = r.json
                if j["timed_out"] or j["took_ms"] >= 250:
                    slow += 1
                    assert j["partial"] and j["shards"]["details"][0]["status"] == "timed_out"
            assert slow >= 1
            m = h.get("/metrics").body.decode()
            assert metric(m, "sgs_root_hedges_sent_total") == 0
    finally:
        stopped.signal(signal.SIGCONT)
        root.stop()
        stop_all(leaves)


def test_generation_mismatch_and_misrouted_are_refused(indexes, other_gen_index, tmp_path):
    a0 = sgs.Leaf(indexes[2], shard=0, threads=1, tmp_dir=tmp_path)
    a1 = sgs.Leaf(indexes[2], shard=1, threads=1, tmp_dir=tmp_path)
    b1 = sgs.Leaf(other_gen_index, shard=1, threads=1, tmp_dir=tmp_path)
    wrong = sgs.Leaf(indexes[2], shard=0, threads=1, tmp_dir=tmp_path)
    root = sgs.Root({0: [a0.url], 1: [a1.url, b1.url, wrong.url]}, tmp_dir=tmp_path)
    try:
        with sgs.Http(root.url) as h:
            for _ in range(20):
                j = h.get("/search?q=w1+OR+filler").json
                assert j["generation"] == "1234abcd5678ef01"
                assert not j["partial"]
                assert j["shards"]["details"][1]["replica"] == a1.url
            info = h.get("/v1/info").json
            reps = {r["url"]: r for r in info["shards"][1]["replicas"]}
            assert not reps[wrong.url]["ready"] and "misrouted" in reps[wrong.url]["last_error"]
            assert not reps[b1.url]["ready"]
            assert reps[b1.url]["generation"] == "0fedcba987654321"
            # With the right-generation replica gone, shard 1 has nothing to
            # offer at the serving generation: partial, never mixed.
            a1.kill()
            time.sleep(1.5 * sgs.SLOW)
            j = h.get("/search?q=w1").json
            assert j["partial"] and j["generation"] == "1234abcd5678ef01"
            assert j["shards"]["details"][1]["status"] == "failed"
    finally:
        root.stop()
        stop_all(a0, a1, b1, wrong)


def test_slow_client_and_disconnect(indexes, tmp_path):
    leaves = start_leaves(indexes[2], 2, tmp=tmp_path)
    root = sgs.Root(urls(leaves), "--conn-timeout-s", "1", tmp_dir=tmp_path)
    try:
        s = socket.create_connection(("127.0.0.1", root.port))
        s.sendall(b"GET /search?q=w1 HTTP/1.1\r\nHost: x\r\n")  # never finishes
        s.settimeout(10 * sgs.SLOW)
        assert s.recv(100) == b""  # the root closed it
        s.close()
        for _ in range(10):
            c = socket.create_connection(("127.0.0.1", root.port))
            c.sendall(b"GET /search?q=w1+OR+filler&k=50 HTTP/1.1\r\nHost: x\r\n\r\n")
            c.close()  # gone before the answer
        with sgs.Http(root.url) as h:
            assert h.get("/search?q=w1").status == 200
    finally:
        root.stop()
        stop_all(leaves)


def test_leaf_pattern_with_resolve(indexes, tmp_path):
    leaves = start_leaves(indexes[2], 2, replicas=2, tmp=tmp_path)
    args = ["--leaf-pattern", "http://sgs-leaf-{ordinal}.sgs-leaf:7001", "--shards", "2",
            "--replicas", "2"]
    for s in range(2):
        for rep in range(2):
            args += ["--resolve", "sgs-leaf-%d.sgs-leaf=127.0.0.1:%d" % (rep * 2 + s,
                                                                        leaves[s][rep].port)]
    root = sgs.Root({}, *args, tmp_dir=tmp_path)
    try:
        with sgs.Http(root.url) as h:
            j = h.get("/search?q=w1").json
            assert not j["partial"] and j["shards"]["successful"] == 2
            info = h.get("/v1/info").json
            assert info["shards"][1]["replicas"][1]["url"] == "http://sgs-leaf-3.sgs-leaf:7001"
    finally:
        root.stop()
        stop_all(leaves)


def test_client_disconnect_cancels_leaf_work(indexes, tmp_path):
    leaves = start_leaves(indexes[2], 2, tmp=tmp_path)
    root = sgs.Root(urls(leaves), "--hedge-budget", "0", "--probe-interval-ms", "10000",
                    "--probe-timeout-ms", "10000", tmp_dir=tmp_path)
    stuck = leaves[1][0]
    try:
        sgs.freeze(stuck)
        c = socket.create_connection(("127.0.0.1", root.port))
        body = b'{"q": "w1", "timeout_ms": 20000}'
        c.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                  % (len(body), body))
        info = wait_info(root.url, lambda i: i["shards"][1]["replicas"][0]["in_flight"] == 1)
        c.close()  # long before the 20 s deadline
        info = wait_info(root.url, lambda i: i["shards"][1]["replicas"][0]["in_flight"] == 0,
                         timeout=5)
        m = sgs.http_get(root.url, "/metrics").body.decode()
        assert metric(m, "sgs_root_client_disconnects_total") == 1, m
    finally:
        stuck.signal(signal.SIGCONT)
        root.stop()
        stop_all(leaves)
