"""Operations of a real leaf: keep-alive, traceparent, Prometheus metrics,
shard choice from the hostname, corrupt shards at start-up, hot reload under
concurrent load (no failed query, no answer mixing generations), a failed
reload keeping the old generation, and SIGTERM draining an in-flight query."""
import os
import re
import shutil
import signal
import socket
import threading
import time

import pytest

import sgs


def read_response(sock):
    """One HTTP/1.1 response from sock: (status line, headers dict, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the headers: %r" % data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(body) < n:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    assert len(body) == n
    return lines[0], headers, body


def test_keep_alive_on_one_raw_socket(synth_leaf):
    with socket.create_connection(("127.0.0.1", synth_leaf.port), timeout=10 * sgs.SLOW) as s:
        body = b'{"q": "w1", "k": 3}'
        req = (b"POST /v1/shard/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body
        for _ in range(2):
            s.sendall(req)
            status, headers, got = read_response(s)
            assert status.startswith("HTTP/1.1 200"), status
            assert "close" not in headers.get("connection", "").lower(), headers
            assert b'"total"' in got
        s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = read_response(s)
        assert status.startswith("HTTP/1.1 200")
        assert "close" not in headers.get("connection", "").lower(), headers


def test_traceparent_is_echoed(synth_leaf):
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    h = sgs.Http(synth_leaf.url)
    r = h.post("/v1/shard/search", json_body={"q": "w1"}, headers={"traceparent": tp})
    assert r.status == 200 and r.headers.get("traceparent") == tp
    r = h.post("/v1/shard/search", json_body={"q": "-w1"}, headers={"traceparent": tp})
    assert r.status == 400 and r.headers.get("traceparent") == tp
    r = h.post("/v1/shard/search", json_body={"q": "w1"})
    assert "traceparent" not in r.headers


METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"'
                         r'(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*,?)?\})? '
                         r'([-+]?([0-9.]+([eE][-+]?[0-9]+)?|Inf|NaN))( -?[0-9]+)?$')


def parse_metrics(text):
    """Prometheus text format → {(name, labels text): value}; asserts every
    line is a comment, blank, or a well-formed sample."""
    out, types = {}, {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "TYPE":
                assert parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"), line
                types[parts[2]] = parts[3]
            continue
        m = METRIC_LINE.match(line)
        assert m, "not a Prometheus sample line: %r" % line
        out[(m.group(1), m.group(2) or "")] = float(m.group(7))
    return out, types


def queries_ok(metrics):
    return sum(v for (n, labels), v in metrics.items()
               if n == "sgs_leaf_queries_total" and 'status="ok"' in labels)


def test_metrics_parse_and_count_queries(synth, tmp_path):
    with sgs.Leaf(synth.index(1), tmp_dir=tmp_path) as leaf:
        h = sgs.Http(leaf.url)
        r = h.get("/metrics")
        assert r.status == 200 and r.headers["content-type"].startswith("text/plain")
        before, types = parse_metrics(r.body.decode())
        assert types.get("sgs_leaf_queries_total") == "counter"
        assert types.get("sgs_leaf_query_duration_seconds") == "histogram"
        for i in range(17):
            assert h.post("/v1/shard/search", json_body={"q": "w%d" % i}).status == 200
        for _ in range(3):
            assert h.post("/v1/shard/search", json_body={"q": "-w1"}).status == 400
        after, _ = parse_metrics(h.get("/metrics").body.decode())
        assert queries_ok(after) - queries_ok(before) == 17
        bad = sum(v for (n, lb), v in after.items()
                  if n == "sgs_leaf_queries_total" and 'status="ok"' not in lb)
        assert bad >= 3
        count = [v for (n, _), v in after.items() if n == "sgs_leaf_query_duration_seconds_count"]
        assert count and count[0] >= 17
        gens = [lb for (n, lb), _ in after.items() if n == "sgs_leaf_generation_info"]
        assert gens and sgs.manifest(synth.index(1))["generation"] in gens[0]


def test_shard_from_hostname(synth, tmp_path):
    idx = synth.index(4)
    with sgs.Leaf(idx, "--shard-from-hostname", "--hostname", "sgs-leaf-5", shard=None,
                  tmp_dir=tmp_path) as leaf:
        info = sgs.http_get(leaf.url, "/v1/shard/info").json
        assert (info["shard"], info["shard_count"]) == (1, 4), info
        want = sum(1 for d in synth.docs if sgs.shard_of(d["id"], 4) == 1)
        assert info["n_docs"] == want and info["corpus_n_docs"] == len(synth.docs)
    with sgs.Leaf(idx, "--shard-from-hostname", "--hostname", "sgs-leaf-0", "--ordinal", "7",
                  shard=None, tmp_dir=tmp_path) as leaf:
        assert sgs.http_get(leaf.url, "/v1/shard/info").json["shard"] == 3


def test_info_fields(synth, synth_leaf):
    info = sgs.http_get(synth_leaf.url, "/v1/shard/info").json
    m = sgs.manifest(synth.index(1))
    assert info["generation"] == m["generation"] and info["protocol"] == 1
    assert info["ready"] is True and info["draining"] is False
    assert info["n_docs"] == info["corpus_n_docs"] == len(synth.docs)
    r = sgs.http_get(synth_leaf.url, "/readyz")
    assert r.status == 200 and r.json["ready"] is True


# ------------------------------------------------------------ corruption

def corrupt_copies(src_dir, tmp):
    """(name, index dir) pairs, each a copy of src_dir with its shard file
    damaged one way."""
    m = sgs.manifest(src_dir)
    fname = m["shard_files"][0]["file"]
    data = open(os.path.join(src_dir, fname), "rb").read()
    n = len(data)
    variants = {
        "flip-header": lambda d: d[:10] + bytes([d[10] ^ 0xFF]) + d[11:],
        "flip-middle": lambda d: d[:n // 2] + bytes([d[n // 2] ^ 0x01]) + d[n // 2 + 1:],
        "flip-last": lambda d: d[:-1] + bytes([d[-1] ^ 0x80]),
        "truncate-half": lambda d: d[:n // 2],
        "truncate-one": lambda d: d[:-1],
        "empty": lambda d: b"",
        "garbage": lambda d: bytes(range(256)) * (n // 256 + 1),
    }
    out = []
    for name, f in variants.items():
        dst = os.path.join(str(tmp), name)
        shutil.copytree(src_dir, dst)
        with open(os.path.join(dst, fname), "wb") as fh:
            fh.write(f(data))
        out.append((name, dst))
    shutil.copytree(src_dir, os.path.join(str(tmp), "missing"))
    os.remove(os.path.join(str(tmp), "missing", fname))
    out.append(("missing", os.path.join(str(tmp), "missing")))
    return out


def test_corrupt_shard_never_turns_ready(synth, tmp_path):
    for name, idx in corrupt_copies(synth.index(1), tmp_path):
        leaf = sgs.Leaf(idx, tmp_dir=tmp_path, wait=False)
        try:
            deadline = time.monotonic() + 30 * sgs.SLOW
            while leaf.proc.poll() is None:
                assert time.monotonic() < deadline, "%s: leaf still running" % name
                if os.path.exists(leaf.port_file):
                    port = int(open(leaf.port_file).read() or 0)
                    if port:
                        try:
                            r = sgs.http_get("http://127.0.0.1:%d" % port, "/readyz")
                            assert r.status != 200, "%s: corrupt shard turned ready" % name
                        except OSError:
                            pass
                time.sleep(0.01)
            rc = leaf.wait()
            err = leaf.stderr()
            assert rc != 0, "%s: exit 0; stderr %s" % (name, err)
            assert "startup_failed" in err or "error" in err, "%s: no message: %r" % (name, err)
            assert "shard-0000" in err or "manifest" in err or "corrupt" in err, \
                "%s: the message names no file: %r" % (name, err)
            leaf.assert_no_sanitizer_report()
        finally:
            leaf.kill()


# ------------------------------------------------------------ reload

def expected_answers(docs, queries, k=10):
    ref = sgs.Reference(docs)
    out = []
    for q in queries:
        total, hits, _ = ref.search(sgs.parse_query(q), k)
        out.append((total, [h[0] for h in hits], [h[1] for h in hits]))
    return out


class Load:
    """Threads querying a leaf continuously; every answer is checked against
    the expected answers of the generation it names."""

    def __init__(self, url, queries, expect_by_gen, threads=3):
        self.url, self.queries, self.expect = url, queries, expect_by_gen
        self.stop_flag = threading.Event()
        self.failures, self.count, self.gens_seen = [], 0, set()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(threads)]

    def run(self, i):
        h = sgs.Http(self.url)
        n = i
        while not self.stop_flag.is_set():
            qi = n % len(self.queries)
            n += 1
            try:
                r = h.post("/v1/shard/search", json_body={"q": self.queries[qi], "k": 10})
            except Exception as e:  # a failed query is what this test looks for
                with self.lock:
                    self.failures.append("query %r: %r" % (self.queries[qi], e))
                continue
            why = None
            if r.status != 200:
                why = "status %d %r" % (r.status, r.body[:200])
            else:
                j = r.json
                exp = self.expect.get(j["generation"])
                if exp is None:
                    why = "unknown generation %s" % j["generation"]
                else:
                    total, ids, scores = exp[qi]
                    if (j["total"], [x["id"] for x in j["hits"]]) != (total, ids) or not all(
                            sgs.close(x["score"], s) for x, s in zip(j["hits"], scores)):
                        why = "generation %s answer differs from its reference" % j["generation"]
            with self.lock:
                self.count += 1
                if why:
                    self.failures.append("query %r: %s" % (self.queries[qi], why))
                else:
                    self.gens_seen.add(r.json["generation"])

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join()


def info(leaf):
    return sgs.http_get(leaf.url, "/v1/shard/info").json


def reload_and_wait(leaf, how, i):
    """Reloads through POST /v1/admin/reload or SIGHUP and waits until the
    reload counter moved."""
    before = info(leaf)
    if how == "post":
        r = sgs.Http(leaf.url).post("/v1/admin/reload", body=b"")
        assert r.status == 200, r
    else:
        os.kill(leaf.pid, signal.SIGHUP)
    deadline = time.monotonic() + 30 * sgs.SLOW
    while True:
        now = info(leaf)
        if now["reloads"] + now["reload_failures"] > before["reloads"] + before["reload_failures"]:
            return now
        assert time.monotonic() < deadline, "reload %d (%s) never happened" % (i, how)
        time.sleep(0.01)


GEN_A, GEN_B = "00000000000000a1", "00000000000000b2"


@pytest.fixture(scope="module")
def two_generations(tmp_path_factory, seed):
    tmp = tmp_path_factory.mktemp("reload")
    docs_a = sgs.synthetic_docs(seed + 1000, 800)
    docs_b = sgs.synthetic_docs(seed + 2000, 1100)
    a = sgs.build_index(docs_a, tmp / "a", 1, generation=GEN_A)
    b = sgs.build_index(docs_b, tmp / "b", 1, generation=GEN_B)
    ref = sgs.Reference(docs_a)
    vocab = sorted(ref.postings, key=lambda t: -len(ref.postings[t]))
    gen = sgs.QueryGen(seed + 3000, vocab[:200])
    queries = []
    while len(queries) < 40:
        q = gen.as_string(gen.query())
        if not isinstance(sgs.expected(q), sgs.QueryError):
            queries.append(q)
    expect = {GEN_A: expected_answers(docs_a, queries), GEN_B: expected_answers(docs_b, queries)}
    return tmp, docs_a, docs_b, a, b, queries, expect


def test_reload_by_symlink_swap_under_load(two_generations, tmp_path):
    tmp, _, _, a, b, queries, expect = two_generations
    cur = str(tmp_path / "cur")
    os.symlink(a, cur)
    leaf = sgs.Leaf(cur, tmp_dir=tmp_path)
    try:
        with Load(leaf.url, queries, expect) as load:
            for i in range(24):
                target = b if i % 2 == 0 else a
                link = cur + ".tmp"
                os.symlink(target, link)
                os.replace(link, cur)
                now = reload_and_wait(leaf, "post" if i % 3 else "hup", i)
                assert now["generation"] == (GEN_B if target == b else GEN_A), now
                assert now["last_reload_error"] in (None, ""), now
                time.sleep(0.02)
        assert not load.failures, "%d of %d queries failed:\n%s" % (
            len(load.failures), load.count, "\n".join(load.failures[:10]))
        assert load.gens_seen == {GEN_A, GEN_B} and load.count > 100
        assert info(leaf)["reloads"] == 24
    finally:
        leaf.stop()


def test_reload_after_rebuild_in_place_under_load(two_generations, tmp_path):
    """sgs-index build replaces --out as a whole; each rebuild is reloaded."""
    tmp, docs_a, docs_b, _, _, queries, expect = two_generations
    served = str(tmp_path / "served")
    sgs.build_index(docs_a, served, 1, generation=GEN_A)
    leaf = sgs.Leaf(served, tmp_dir=tmp_path)
    try:
        with Load(leaf.url, queries, expect) as load:
            for i in range(4):
                docs, g = (docs_b, GEN_B) if i % 2 == 0 else (docs_a, GEN_A)
                sgs.build_index(docs, served, 1, generation=g)
                now = reload_and_wait(leaf, "hup" if i % 2 else "post", i)
                assert now["generation"] == g, now
        assert not load.failures, "%d of %d queries failed:\n%s" % (
            len(load.failures), load.count, "\n".join(load.failures[:10]))
        assert load.gens_seen == {GEN_A, GEN_B}
    finally:
        leaf.stop()


def test_failed_reload_keeps_serving_the_old_generation(two_generations, tmp_path):
    tmp, _, _, a, b, queries, expect = two_generations
    served = str(tmp_path / "served")
    shutil.copytree(a, served)
    leaf = sgs.Leaf(served, tmp_dir=tmp_path)
    try:
        # publish B with a damaged shard file (written aside, renamed in)
        m = sgs.manifest(b)
        fname = m["shard_files"][0]["file"]
        data = bytearray(open(os.path.join(b, fname), "rb").read())
        data[len(data) // 2] ^= 0x10
        with open(os.path.join(served, fname + ".tmp"), "wb") as f:
            f.write(data)
        os.replace(os.path.join(served, fname + ".tmp"), os.path.join(served, fname))
        shutil.copy(os.path.join(b, "manifest.json"), os.path.join(served, "manifest.json.tmp"))
        os.replace(os.path.join(served, "manifest.json.tmp"), os.path.join(served, "manifest.json"))
        with Load(leaf.url, queries, expect, threads=2) as load:
            r = sgs.Http(leaf.url).post("/v1/admin/reload", body=b"")
            assert 400 <= r.status < 600 and "error" in r.json, r
            os.kill(leaf.pid, signal.SIGHUP)
            deadline = time.monotonic() + 30 * sgs.SLOW
            while info(leaf)["reload_failures"] < 2:
                assert time.monotonic() < deadline, info(leaf)
                time.sleep(0.01)
        now = info(leaf)
        assert now["generation"] == GEN_A and now["reloads"] == 0, now
        assert now["reload_failures"] == 2 and now["last_reload_error"], now
        assert sgs.http_get(leaf.url, "/readyz").status == 200
        assert not load.failures, "\n".join(load.failures[:10])
        assert load.gens_seen == {GEN_A}
        metrics = sgs.http_get(leaf.url, "/metrics").body.decode()
        assert re.search(r"^sgs_leaf_reload_failures_total 2(\.0)?$", metrics, re.M), metrics
        # a good build clears the error
        shutil.rmtree(served)
        shutil.copytree(b, served)
        now = reload_and_wait(leaf, "post", 0)
        assert now["generation"] == GEN_B and not now["last_reload_error"], now
    finally:
        leaf.stop()


# ------------------------------------------------------------ drain

def test_sigterm_drains_an_in_flight_query(synth, tmp_path):
    leaf = sgs.Leaf(synth.index(1), tmp_dir=tmp_path)
    body = b'{"q": "w1 OR w2", "k": 5}'
    s = socket.create_connection(("127.0.0.1", leaf.port), timeout=10 * sgs.SLOW)
    try:
        s.sendall(b"POST /v1/shard/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10])
        time.sleep(0.2)  # the request has arrived, its body has not
        leaf.signal(signal.SIGTERM)
        deadline = time.monotonic() + 10 * sgs.SLOW
        while True:
            r = sgs.http_get(leaf.url, "/readyz")
            if r.status == 503:
                break
            assert r.status == 200 and time.monotonic() < deadline, r
            time.sleep(0.005)
        assert r.json["ready"] is False
        s.sendall(body[10:])
        status, _, got = read_response(s)
        assert status.startswith("HTTP/1.1 200"), (status, got)
        import json
        j = json.loads(got)
        assert sgs.check_search(synth.ref, sgs.Response(200, {}, got), sgs.parse_query("w1 OR w2"),
                                5) is None, j
    finally:
        s.close()
    assert leaf.stop(expect=0) == 0


def test_env_twins_and_flag_precedence(synth, tmp_path):
    idx = synth.index(3)
    with sgs.Leaf(idx, shard=None, env={"SGS_LEAF_SHARD": "2"}, tmp_dir=tmp_path) as leaf:
        assert info(leaf)["shard"] == 2
    with sgs.Leaf(idx, shard=1, env={"SGS_LEAF_SHARD": "2"}, tmp_dir=tmp_path) as leaf:
        assert info(leaf)["shard"] == 1


def test_bad_shard_choice_exits_2(synth, tmp_path):
    for args in (["--shard", "3"], ["--shard-from-hostname", "--hostname", "web"]):
        leaf = sgs.Leaf(synth.index(3), *args, shard=None, tmp_dir=tmp_path, wait=False)
        try:
            assert leaf.wait() == 2, leaf.stderr()
            assert leaf.stderr().strip(), "no message"
            assert not os.path.exists(leaf.port_file)
        finally:
            leaf.kill()

