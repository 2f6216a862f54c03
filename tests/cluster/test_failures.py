"""Failures the root must ride out or report honestly: a replica of every
shard killed under load (no failed or partial answer; restarted replicas
return to rotation), a whole shard down (200 partial with relation gte, or
503 when allow_partial is false; 503 within the timeout when every leaf is
down), and a straggler (SIGSTOP) that hedging hides and that shows without it."""
import http.client
import os
import signal
import threading
import time

import pytest
import sgs

from cluster_conftest import SLOW, Client, build_index, metrics, vocab_docs

DOCS = vocab_docs(11, 1200, vocab=40)
QUERIES = ["t0", "t1 t2", "t3 OR t4", "t0 -t1", "(t5 OR t6) t0", "t7 OR t8 OR t9"]


@pytest.fixture(scope="module")
def idx4(tmp_path_factory):
    return build_index(DOCS, tmp_path_factory.mktemp("idx") / "s4", 4)


@pytest.fixture(scope="module")
def idx3(tmp_path_factory):
    return build_index(DOCS, tmp_path_factory.mktemp("idx") / "s3", 3)


class Load:
    """Client threads querying the root in a loop; every answer recorded."""

    def __init__(self, port, threads=3, body=None):
        self.port, self.body = port, body or {}
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.problems = []
        self.replicas = set()  # (shard, replica) seen answering
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, i):
        c = Client(self.port, timeout=20)
        n = 0
        while not self.stop.is_set():
            q = QUERIES[(i + n) % len(QUERIES)]
            n += 1
            try:
                r = c.search(q=q, k=5, **self.body)
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.problems.append((q, repr(e)))
                continue
            with self.lock:
                if r.status != 200:
                    self.problems.append((q, r.status, r.body[:300]))
                elif r.json["partial"] or r.json["shards"]["failed"] or r.json["timed_out"]:
                    self.problems.append((q, "partial", r.body[:600]))
                else:
                    self.ok += 1
                    for d in r.json["shards"]["details"]:
                        self.replicas.add((d["shard"], d["replica"]))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def answered(self):
        with self.lock:
            return self.ok


def _wait(pred, timeout, what):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("not within %.0f s: %s" % (timeout * SLOW, what))


def _info_replica(root, url):
    for s in Client(root.port).get("/v1/info").json["shards"]:
        for r in s["replicas"]:
            if r["url"] == url:
                return r
    raise AssertionError("%s not in /v1/info" % url)


def test_replica_kill_under_load_fails_nothing_and_restarted_replicas_return(idx4, cluster):
    leaves = cluster.leaves(idx4, 4, replicas=2)
    root = cluster.root(leaves)
    with Load(root.port) as load:
        _wait(lambda: load.answered() >= 50, 30, "50 answers before the kill")
        for s in range(4):
            leaves[s][1].kill9()
        before = load.answered()
        _wait(lambda: load.answered() >= before + 200, 60, "200 answers after the kill")
        for s in range(4):
            leaves[s][1].start().wait_ready()  # same port
        for s in range(4):
            url = leaves[s][1].url
            _wait(lambda: _info_replica(root, url)["ready"] is True, 30,
                  "restarted %s ready in /v1/info" % url)
        # Back in rotation: with the other replica of every shard gone too,
        # the restarted ones answer everything.
        with load.lock:
            load.replicas.clear()
        for s in range(4):
            leaves[s][0].kill9()
        before = load.answered()
        _wait(lambda: load.answered() >= before + 200, 60, "200 answers on restarted replicas")
    assert load.problems == [], load.problems[:5]
    assert {(s, leaves[s][1].url) for s in range(4)} <= load.replicas, load.replicas


def test_whole_shard_down_is_partial_or_503_and_all_down_is_503(idx3, cluster):
    leaves = cluster.leaves(idx3, 3)
    root = cluster.root(leaves)
    c = Client(root.port)
    full = c.search(q="t0 OR t1", k=10)
    assert full.status == 200 and full.json["partial"] is False, full
    direct = {s: Client(leaves[s][0].port).post(
        "/v1/shard/search", json_body={"q": "t0 OR t1", "k": 10}).json["total"] for s in range(3)}
    assert full.json["total"]["value"] == sum(direct.values())

    leaves[1][0].kill9()
    for _ in range(5):
        r = c.search(q="t0 OR t1", k=10, timeout_ms=2000)
        assert r.status == 200, r
        a = r.json
        assert a["partial"] is True and a["total"]["relation"] == "gte", a
        assert a["total"]["value"] == direct[0] + direct[2], a
        assert a["shards"]["failed"] + a["shards"]["timed_out"] >= 1, a
        assert a["shards"]["successful"] == 2, a
        bad = [d for d in a["shards"]["details"] if d["shard"] == 1]
        assert len(bad) == 1 and bad[0]["status"] in ("failed", "timed_out"), a
        assert all(h["shard"] != 1 for h in a["hits"]), a
    g = c.search_get("t0", k=3)
    assert g.status == 200 and g.json["partial"] is True, g
    strict = c.search(q="t0 OR t1", k=10, allow_partial=False)
    assert strict.status == 503, strict
    assert strict.json["error"]["type"], strict
    _wait(lambda: root.readyz() == 503, 10, "root /readyz 503 with shard 1 down")

    leaves[0][0].kill9()
    leaves[2][0].kill9()
    for body in ({"q": "t0", "k": 3, "timeout_ms": 500}, {"q": "t0", "k": 3}):
        r = Client(root.port, timeout=15).post("/search", json_body=body)
        assert r.status == 503, r
        assert r.json["error"]["type"], r
    r = Client(root.port, timeout=15).search_get("t0", k=3)
    assert r.status == 503 and r.json["error"]["type"], r
    assert root.alive()


def _hedges(port):
    m = metrics(port)
    return sum(v for k, v in m.items() if k.startswith("sgs_root_hedges_sent_total"))


def _all_replicas_ready(root):
    info = Client(root.port).get("/v1/info").json
    return all(r["ready"] and not r["ejected"] for s in info["shards"] for r in s["replicas"])


def _stalls(cluster, idx, hedge_args, timeout_ms, rounds=6, per_round=15):
    """2 shards x 2 replicas; per round one replica is SIGSTOPped (taking
    turns) while queries with timeout_ms run; between rounds every replica
    is back and steady traffic refills the hedge budget. Returns (root,
    replies)."""
    leaves = cluster.leaves(idx, 2, replicas=2)
    root = cluster.root(leaves, *hedge_args)
    c = Client(root.port, timeout=30)

    def steady(n):
        # Latency history for the hedge quantile, and leaf requests that earn
        # the hedge budget (--hedge-budget of them, up to the root's burst).
        for i in range(n):
            assert c.search(q=QUERIES[i % len(QUERIES)], k=5).status == 200

    steady(100)
    replies = []
    try:
        for rnd in range(rounds):
            victim = leaves[rnd % 2][(rnd // 2) % 2]
            sgs.freeze(victim)
            try:
                for i in range(per_round):
                    replies.append(c.search(q=QUERIES[i % len(QUERIES)], k=5,
                                            timeout_ms=timeout_ms))
            finally:
                victim.signal(signal.SIGCONT)
            # Each stretch starts with every replica back in rotation, so
            # one replica at a time is the straggler.
            _wait(lambda: _all_replicas_ready(root), 30, "every replica ready after SIGCONT")
            steady(100)
    finally:
        for s in leaves:
            for lf in leaves[s]:
                lf.signal(signal.SIGCONT)
    return root, replies


def test_straggler_is_hedged_and_answers_within_the_deadline(idx4, cluster):
    timeout_ms = 2000
    root, replies = _stalls(cluster, idx4, [], timeout_ms)
    for r in replies:
        assert r.status == 200, r
        a = r.json
        assert a["partial"] is False and a["timed_out"] is False, a
        assert r.took < (timeout_ms / 1000.0 + 1.0) * SLOW, (r.took, a)
    assert _hedges(root.port) > 0, "no hedge counted in /metrics"
    assert any(d["hedged"] for r in replies for d in r.json["shards"]["details"])


def test_straggler_without_hedging_shows(idx4, cluster):
    timeout_ms = 300
    root, replies = _stalls(cluster, idx4, ["--hedge-budget", "0"], timeout_ms)
    assert _hedges(root.port) == 0
    stalled = 0
    for r in replies:
        assert r.status in (200, 503), r
        if r.status == 503:
            stalled += 1
            continue
        a = r.json
        assert not any(d["hedged"] for d in a["shards"]["details"]), a
        if a["timed_out"] or a["shards"]["timed_out"] or a["took_ms"] >= 0.8 * timeout_ms:
            stalled += 1
            if a["timed_out"]:
                assert a["partial"] is True and a["total"]["relation"] == "gte", a
        assert r.took < (timeout_ms / 1000.0 + 1.0) * SLOW, (r.took, a)
    assert stalled > 0, "no answer shows the stopped replica"


def _all_threads_stopped(pid):
    tasks = os.listdir("/proc/%d/task" % pid)
    for t in tasks:
        with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
            if f.read().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                return False
    return bool(tasks)


def test_frozen_replica_is_hedged_per_query_and_steered_around(idx4, cluster):
    """2 shards x 2 replicas, one replica of shard 0 stopped for good (and no
    probe to notice): every query still answers in full, far inside its
    deadline, by the other replica; a query whose primary went to the frozen
    one shows the hedge winning; and replica choice keeps new work off the
    frozen replica (only its exploration share reaches it)."""
    leaves = cluster.leaves(idx4, 2, replicas=2)
    # A sequential client earns hedge tokens only between its queries: a
    # generous budget keeps the bucket from being what this test measures.
    root = cluster.root(leaves, "--probe-interval-ms", "600000", "--hedge-budget", "0.5")
    c = Client(root.port, timeout=30)
    for i in range(100):
        assert c.search(q=QUERIES[i % len(QUERIES)], k=5).status == 200
    # Freeze the replica of shard 0 the root currently prefers (the lower
    # latency estimate), so the first queries send their primaries to it.
    reps = Client(root.port).get("/v1/info").json["shards"][0]["replicas"]
    best = min(reps, key=lambda x: x["latency_ewma_ms"])["url"]
    frozen = [lf for lf in leaves[0] if lf.url == best][0]
    timeout_ms, n = 3000, 60
    replies = []

    def replica_info():
        info = Client(root.port).get("/v1/info").json["shards"][0]["replicas"]
        return {x["url"]: x for x in info}

    before = replica_info()
    frozen.signal(signal.SIGSTOP)
    try:
        # The stop reaches a process's threads one after another (each must
        # run to stop itself): wait until all of them are stopped.
        _wait(lambda: _all_threads_stopped(frozen.pid), 10, "every thread of the leaf stopped")
        for i in range(n):
            replies.append(c.search(q=QUERIES[i % len(QUERIES)], k=5, timeout_ms=timeout_ms))
        during = replica_info()
    finally:
        frozen.signal(signal.SIGCONT)
    hedged = 0
    for i, r in enumerate(replies):
        assert r.status == 200, r
        a = r.json
        assert a["partial"] is False and a["timed_out"] is False, a
        d0 = [d for d in a["shards"]["details"] if d["shard"] == 0][0]
        assert d0["status"] == "ok" and d0["replica"] != frozen.url, d0
        # A hedge that won rescued a primary stuck on the frozen replica (a
        # hedge that lost went to the frozen one after a slow primary).
        hedged += d0["hedge_won"]
        # Stuck on the frozen replica, a query waits for the hedge delay
        # (at most --hedge-max-ms, 100 ms), never for its deadline.
        assert a["took_ms"] < timeout_ms / 3, a
    m = metrics(root.port)
    sent = sum(v for k, v in m.items() if k.startswith("sgs_root_hedges_sent_total"))
    won = sum(v for k, v in m.items() if k.startswith("sgs_root_hedges_won_total"))
    assert hedged > 0 and sent >= hedged and won >= hedged
    # Two distinct draws: after its first stall the frozen replica costs
    # more, so only the 1-in-16 uniform picks (half of them it) reach it;
    # draws with replacement would send it about a quarter of the queries.
    assert hedged <= n // 5, "%d of %d queries were sent to the frozen replica" % (hedged, n)
    # Every hedge that won beat a primary on the frozen replica: the root
    # counts each as "beaten" there and none on the healthy one, and the
    # frozen replica still counts as loaded ("lost") until it answers again.
    healthy = [lf for lf in leaves[0] if lf is not frozen][0]
    fb, fd = before[frozen.url], during[frozen.url]
    assert fd["beaten"] - fb["beaten"] == hedged, (fb, fd, hedged)
    assert during[healthy.url]["beaten"] == before[healthy.url]["beaten"], during
    assert fd["lost"] >= 1 and fd["in_flight"] == 0, fd
    # Continued, it gets exploration picks again; its first answer clears it.
    for i in range(2000):
        assert c.search(q=QUERIES[i % len(QUERIES)], k=5).status == 200
        if i % 20 == 19 and replica_info()[frozen.url]["lost"] == 0:
            break
    assert replica_info()[frozen.url]["lost"] == 0, replica_info()[frozen.url]
