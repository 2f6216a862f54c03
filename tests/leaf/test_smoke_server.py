"""Smoke tests of the sgs-leaf process: start-up checks and exit codes, the
endpoints' shapes, keep-alive, reload success and failure, drain on SIGTERM.
The full contract suite lives beside this file; this one stays small."""
import http.client
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("SGS_BUILD", "build/release"))
SGS_INDEX = os.path.join(BUILD, "sgs-index")
SGS_LEAF = os.path.join(BUILD, "sgs-leaf")


def build_index(tmp, name, docs, shards=1):
    src = os.path.join(tmp, name + ".jsonl")
    with open(src, "w") as f:
        for d in docs:
            f.write(json.dumps(d) + "\n")
    out = os.path.join(tmp, name)
    subprocess.run([SGS_INDEX, "build", "--input", src, "--shards", str(shards), "--out", out],
                   check=True, capture_output=True)
    return out


class Leaf:
    def __init__(self, tmp, index, *extra):
        self.port_file = os.path.join(tmp, "leaf-%d.port" % time.monotonic_ns())
        self.log = open(os.path.join(tmp, "leaf.log"), "ab")
        self.proc = subprocess.Popen(
            [SGS_LEAF, "--index", index, "--listen", "127.0.0.1:0", "--port-file",
             self.port_file, "--threads", "2", *extra], stderr=self.log)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.port_file):
            assert self.proc.poll() is None, "sgs-leaf exited at start-up"
            assert time.monotonic() < deadline, "sgs-leaf did not start"
            time.sleep(0.02)
        self.port = int(open(self.port_file).read())

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def get(self, path):
        c = self.conn()
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()

    def post(self, path, body, headers=None):
        c = self.conn()
        c.request("POST", path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read(), r

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        self.log.close()
        return rc


DOCS = [{"id": "d%03d" % i, "title": "alpha %s" % ("beta" if i % 2 else "gamma"),
         "body": "word%d" % (i % 7)} for i in range(60)]


@pytest.fixture
def index(tmp_path):
    return build_index(str(tmp_path), "idx", DOCS)


def test_endpoints_keep_alive_and_drain(tmp_path, index):
    leaf = Leaf(str(tmp_path), index, "--shard", "0")
    try:
        status, body = leaf.get("/readyz")
        assert status == 200 and json.loads(body)["ready"] is True
        info = json.loads(leaf.get("/v1/shard/info")[1])
        manifest = json.load(open(os.path.join(index, "manifest.json")))
        assert info["generation"] == manifest["generation"]
        assert (info["shard"], info["shard_count"], info["n_docs"]) == (0, 1, 60)
        assert info["protocol"] == 1 and info["reloads"] == 0
        assert info["last_reload_error"] is None
        assert leaf.get("/healthz")[0] == 200
        status, body = leaf.get("/nope")
        assert status == 404 and json.loads(body)["error"]["type"] == "not_found"

        c = leaf.conn()
        trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        for _ in range(3):  # one connection, several requests
            c.request("POST", "/v1/shard/search", body=json.dumps({"q": "alpha beta", "k": 5}),
                      headers={"traceparent": trace})
            r = c.getresponse()
            answer = json.loads(r.read())
            assert r.status == 200
            assert r.getheader("Connection") is None
            assert r.getheader("traceparent") == trace
            assert answer["total"] == 30 and len(answer["hits"]) == 5
        c.request("POST", "/v1/shard/search", body=json.dumps({"q": "alpha", "k": 0}))
        r = c.getresponse()
        assert json.loads(r.read())["total"] == 60 and r.status == 200

        status, body, _ = leaf.post("/v1/shard/search", b'{"q": "alpha (", "k": 1}')
        assert status == 400 and json.loads(body)["error"]["type"] == "invalid_query"
        status, body, _ = leaf.post("/v1/shard/search", b"x" * 70000)
        assert status == 400 and json.loads(body)["error"]["type"] == "body_too_large"

        metrics = leaf.get("/metrics")[1].decode()
        assert 'sgs_leaf_queries_total{status="ok"} 4' in metrics
        assert 'sgs_leaf_generation_info{generation="%s"} 1' % manifest["generation"] in metrics
    finally:
        assert leaf.stop() == 0


def test_reload_success_and_failure(tmp_path, index):
    tmp = str(tmp_path)
    other = build_index(tmp, "other", [{"id": "x%d" % i, "title": "alpha"} for i in range(9)])
    live = os.path.join(tmp, "live")
    shutil.copytree(index, live)
    leaf = Leaf(tmp, live, "--shard", "0")
    try:
        for f in os.listdir(other):
            shutil.copy(os.path.join(other, f), os.path.join(live, f))
        status, body, _ = leaf.post("/v1/admin/reload", b"")
        assert status == 200, body
        info = json.loads(leaf.get("/v1/shard/info")[1])
        assert info["n_docs"] == 9 and info["reloads"] == 1

        shard = os.path.join(live, "shard-0000.sgs")
        data = bytearray(open(shard, "rb").read())
        data[len(data) // 2] ^= 0xFF
        # Replaced by rename, never rewritten in place: the served file is mapped.
        open(shard + ".tmp", "wb").write(bytes(data))
        os.rename(shard + ".tmp", shard)
        status, body, _ = leaf.post("/v1/admin/reload", b"")
        assert status >= 400 and "error" in json.loads(body)
        leaf.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        info = json.loads(leaf.get("/v1/shard/info")[1])
        assert info["n_docs"] == 9 and info["reload_failures"] == 2
        assert info["last_reload_error"]
        status, body, _ = leaf.post("/v1/shard/search", b'{"q": "alpha", "k": 0}')
        assert status == 200 and json.loads(body)["total"] == 9
        assert leaf.get("/readyz")[0] == 200
    finally:
        assert leaf.stop() == 0


def test_corrupt_shard_and_bad_flags_exit_nonzero(tmp_path, index):
    tmp = str(tmp_path)
    bad = os.path.join(tmp, "bad")
    shutil.copytree(index, bad)
    shard = os.path.join(bad, "shard-0000.sgs")
    data = bytearray(open(shard, "rb").read())
    data[100] ^= 0x01
    open(shard, "wb").write(bytes(data))
    r = subprocess.run([SGS_LEAF, "--index", bad, "--shard", "0", "--listen", "127.0.0.1:0"],
                       capture_output=True, timeout=30)
    assert r.returncode == 1 and b"cannot serve the shard" in r.stderr
    for args in (["--index", index], ["--index", index, "--shard", "x"],
                 ["--index", index, "--bogus"], ["--index", index, "--shard", "0",
                                                 "--listen", "nowhere"]):
        r = subprocess.run([SGS_LEAF, *args], capture_output=True, timeout=30)
        assert r.returncode == 2, (args, r.stderr)
    r = subprocess.run([SGS_LEAF, "--index", index, "--shard", "3"], capture_output=True,
                       timeout=30)
    assert r.returncode != 0 and b"1 shards" in r.stderr


def test_shard_from_hostname(tmp_path):
    index = build_index(str(tmp_path), "three", DOCS, shards=3)
    leaf = Leaf(str(tmp_path), index, "--shard-from-hostname", "--hostname", "sgs-leaf-7")
    try:
        assert json.loads(leaf.get("/v1/shard/info")[1])["shard"] == 7 % 3
    finally:
        assert leaf.stop() == 0


def test_reload_under_load_never_fails_or_mixes_generations(tmp_path):
    import threading
    tmp = str(tmp_path)
    a = build_index(tmp, "a", [{"id": "a%03d" % i, "title": "alpha one"} for i in range(50)])
    b = build_index(tmp, "b", [{"id": "b%03d" % i, "title": "alpha two"} for i in range(70)])
    gens = {}
    for d, prefix, n in ((a, "a", 50), (b, "b", 70)):
        g = json.load(open(os.path.join(d, "manifest.json")))["generation"]
        gens[g] = (prefix, n)
    live = os.path.join(tmp, "live")
    shutil.copytree(a, live)
    leaf = Leaf(tmp, live, "--shard", "0")
    stop = threading.Event()
    problems, answers = [], [0]

    def query():
        c = leaf.conn()
        while not stop.is_set():
            c.request("POST", "/v1/shard/search", body=b'{"q": "alpha", "k": 3}')
            r = c.getresponse()
            body = r.read()
            if r.status != 200:
                problems.append((r.status, body))
                continue
            d = json.loads(body)
            prefix, n = gens.get(d["generation"], ("?", -1))
            if d["total"] != n or any(h["id"][0] != prefix for h in d["hits"]):
                problems.append(("mixed", body))
            answers[0] += 1

    threads = [threading.Thread(target=query) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(20):
            src = b if i % 2 == 0 else a
            for f in ("shard-0000.sgs", "manifest.json"):
                shutil.copy(os.path.join(src, f), os.path.join(live, f + ".tmp"))
                os.rename(os.path.join(live, f + ".tmp"), os.path.join(live, f))
            status, body, _ = leaf.post("/v1/admin/reload", b"")
            assert status == 200, body
    finally:
        stop.set()
        for t in threads:
            t.join()
        assert leaf.stop() == 0
    assert problems == []
    assert answers[0] > 0


BIN = {"Content-Type": "application/x-sgs-v1"}
MALFORMED = [
    (b'{"q": "alpha"', {}, "invalid_json"),
    (b'[1, 2]', {}, None),
    (b'{"q": 5}', {}, None),
    (b'{"q": "alpha", "k": "ten"}', {}, None),
    (b'{"q": "alpha", "k": -1}', {}, None),
    (b'{"q": "alpha", "bogus": 1}', {}, None),
    (b'{"q": "alpha", "query": {"term": "alpha"}}', {}, None),
    (b'{"q": "alpha", "k": 100000000}', {}, "k_too_large"),
    (b'{"q": "' + b"(" * 100 + b"alpha" + b")" * 100 + b'"}', {}, "query_too_deep"),
    (json.dumps({"q": " ".join("w%d" % i for i in range(2000))}).encode(), {}, None),
    (b'{"q": "\xff\xfe alpha"}', {}, None),
    (b'{"q": "-alpha"}', {}, "invalid_query"),
    (b'{"query": {"and": []}}', {}, None),
    (b'{"query": {"term": 3}}', {}, None),
    (b"", {}, None),
    (b"SGSQ", BIN, None),
    (b"SGSQ\x02\x00\x00\x00\x0a\x00\x00\x00\x00\x00\x00\x00\x01\x05alpha", BIN,
     "protocol_mismatch"),
    (b"SGSQ\x01\x00\x00\x00\x0a\x00\x00\x00\x00\x00\x00\x00\x01\x09alpha", BIN, None),
    (b"SGSQ\x01\x00\x00\x00\x0a\x00\x00\x00\x00\x00\x00\x00\x09\x05alpha", BIN, None),
    (b"\x00" * 100, BIN, None),
]


def test_malformed_requests_get_4xx_and_the_leaf_survives(tmp_path, index):
    leaf = Leaf(str(tmp_path), index, "--shard", "0")
    try:
        for body, headers, want_type in MALFORMED:
            status, reply, r = leaf.post("/v1/shard/search", body, headers)
            assert 400 <= status < 500, (body[:60], status, reply)
            err = json.loads(reply)["error"]
            assert err["type"] and err["reason"]
            if want_type:
                assert err["type"] == want_type, (body[:60], err)
        ok = b"SGSQ\x01\x00\x00\x00\x0a\x00\x00\x00\x00\x00\x00\x00\x01\x05alpha"
        status, reply, r = leaf.post("/v1/shard/search", ok, BIN)
        assert status == 200 and r.getheader("Content-Type") == "application/x-sgs-v1"
        assert reply[:4] == b"SGSR"
        status, reply, r = leaf.post("/v1/shard/search", ok, dict(BIN, Accept="application/json"))
        assert status == 200 and json.loads(reply)["total"] == 60
        metrics = leaf.get("/metrics")[1].decode()
        assert 'sgs_leaf_queries_total{status="bad_request"} %d' % len(MALFORMED) in metrics
        assert leaf.get("/readyz")[0] == 200
    finally:
        assert leaf.stop() == 0


def _seed():
    import random
    seed = int(os.environ.get("SGS_TEST_SEED", random.randrange(1 << 31)))
    print("SGS_TEST_SEED=%d" % seed)
    return random.Random(seed)


def _random_tree(rng, words, depth):
    if depth == 0 or rng.random() < 0.35:
        return {"term": rng.choice(words)}
    kind = rng.choice(["and", "or", "not"])
    if kind == "not":
        return {"not": _random_tree(rng, words, depth - 1)}
    return {kind: [_random_tree(rng, words, depth - 1) for _ in range(rng.randint(2, 3))]}


def _positive_terms(tree, negated=False):
    """Terms reached through no NOT once NOT NOT x is read as x."""
    if "term" in tree:
        return set() if negated else {tree["term"]}
    if "not" in tree:
        inner, odd = tree["not"], True
        while "not" in inner:
            inner, odd = inner["not"], not odd
        return _positive_terms(inner, negated or odd)
    out = set()
    for child in next(iter(tree.values())):
        out |= _positive_terms(child, negated)
    return out


def _matches(tree, docs_terms, universe):
    if "term" in tree:
        return {d for d in universe if tree["term"] in docs_terms[d]}
    if "not" in tree:
        return universe - _matches(tree["not"], docs_terms, universe)
    sets = [_matches(c, docs_terms, universe) for c in next(iter(tree.values()))]
    return set.intersection(*sets) if "and" in tree else set.union(*sets)


def test_answers_equal_a_brute_force_reference_on_one_and_three_shards(tmp_path):
    """Random query trees against an independent evaluation here: exact
    counts, top-k ids and order, BM25 scores, stored fields; and the three
    shard answers merged equal the one-shard answer."""
    import math
    rng = _seed()
    tmp = str(tmp_path)
    words = ["w%d" % i for i in range(24)]
    weights = [1.0 / (i + 1) for i in range(len(words))]
    docs = []
    for i in range(300):
        title = " ".join(rng.choices(words, weights, k=rng.randint(1, 4)))
        body = " ".join(rng.choices(words, weights, k=rng.randint(0, 12)))
        docs.append({"id": "doc-%03d" % i, "title": title, "body": body})
    one = build_index(tmp, "one", docs, shards=1)
    three = build_index(tmp, "three", docs, shards=3)

    tfs = {}
    for d in docs:
        tokens = (d["title"] + " " + d["body"]).split()
        tfs[d["id"]] = {"len": len(tokens), "tf": {t: tokens.count(t) for t in set(tokens)}}
    n = len(docs)
    avg = sum(v["len"] for v in tfs.values()) / n
    df = {w: sum(1 for v in tfs.values() if w in v["tf"]) for w in words}
    docs_terms = {k: set(v["tf"]) for k, v in tfs.items()}
    universe = set(tfs)

    def score(doc, terms):
        s = 0.0
        v = tfs[doc]
        for t in sorted(terms):
            tf = v["tf"].get(t, 0)
            if tf:
                idf = math.log(1.0 + (n - df[t] + 0.5) / (df[t] + 0.5))
                norm = 1.2 * (1.0 - 0.75 + 0.75 * v["len"] / avg)
                s += idf * tf * 2.2 / (tf + norm)
        return s

    leaves = [Leaf(tmp, one, "--shard", "0")] + [Leaf(tmp, three, "--shard", str(i))
                                                 for i in range(3)]
    conns = [lf.conn() for lf in leaves]
    titles = {d["id"]: d["title"] for d in docs}

    def ask(c, tree, k):
        c.request("POST", "/v1/shard/search", body=json.dumps({"query": tree, "k": k}))
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, body
        return json.loads(body)

    def same_hits(got, want, tree):
        assert len(got) == len(want), tree
        for (gs, gid), (ws, wid) in zip(got, want):
            assert abs(gs - ws) <= 1e-5 * max(1.0, abs(ws)), (tree, got, want)
            if gid != wid:  # only two documents whose scores tie may swap
                assert abs(gs - ws) <= 1e-9 * max(1.0, abs(ws)), (tree, got, want)

    try:
        for _ in range(250):
            tree = _random_tree(rng, words, rng.randint(0, 3))
            if not _positive_terms(tree):
                tree = {"and": [{"term": rng.choice(words)}, tree]}
            k = rng.choice([0, 1, 3, 10, 400])
            match = _matches(tree, docs_terms, universe)
            terms = _positive_terms(tree)
            ranked = sorted(((score(d, terms), d) for d in match), key=lambda x: (-x[0], x[1]))
            want = ranked[:k]

            a = ask(conns[0], tree, k)
            assert a["total"] == len(match), tree
            got = [(h["score"], h["id"]) for h in a["hits"]]
            same_hits(got, want, tree)
            for h in a["hits"]:
                assert h["fields"] == {"title": titles[h["id"]]}

            parts = [ask(c, tree, k) for c in conns[1:]]
            assert sum(p["total"] for p in parts) == len(match), tree
            merged = sorted(((h["score"], h["id"]) for p in parts for h in p["hits"]),
                            key=lambda x: (-x[0], x[1]))[:k]
            same_hits(merged, got, tree)
    finally:
        for lf in leaves:
            assert lf.stop() == 0


def test_sigterm_turns_not_ready_and_keeps_answering_busy_connections(tmp_path, index):
    import threading
    leaf = Leaf(str(tmp_path), index, "--shard", "0")
    probe = leaf.conn()
    probe.request("GET", "/readyz")
    first = probe.getresponse()
    assert first.status == 200 and json.loads(first.read())["ready"] is True
    stop = threading.Event()
    failures, answered = [], [0]

    def query():
        c = leaf.conn()
        while not stop.is_set():
            try:
                c.request("POST", "/v1/shard/search", body=b'{"q": "alpha", "k": 2}')
                r = c.getresponse()
                body = r.read()
                if r.status != 200:
                    failures.append((r.status, body))
                answered[0] += 1
            except (OSError, http.client.HTTPException) as e:
                failures.append(repr(e))

    threads = [threading.Thread(target=query) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    leaf.proc.send_signal(signal.SIGTERM)
    statuses = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        probe.request("GET", "/readyz")
        r = probe.getresponse()
        body = r.read()
        statuses.append(r.status)
        if r.status == 503:
            assert json.loads(body)["ready"] is False
            break
    stop.set()
    for t in threads:
        t.join()
    assert statuses[-1] == 503, statuses[-5:]
    assert failures == [] and answered[0] > 0
    assert leaf.proc.wait(timeout=30) == 0
    leaf.log.close()
