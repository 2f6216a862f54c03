"""Replica names are looked up off the event loop, again every
--resolve-interval-ms: a name that does not resolve is a clean "unresolved",
not-ready replica (never a crash, never a blocked loop), a lookup that hangs
leaves /healthz, /readyz and /v1/info answering, and a replica that comes
back at another address is picked up."""
import errno
import os
import threading
import time

import pytest

from cluster_conftest import SLOW, Client, build_index, vocab_docs

DOCS = vocab_docs(41, 400, vocab=30)
PATTERN = "http://sgs-leaf-{ordinal}.sgs-leaf:7001"


@pytest.fixture(scope="module")
def idx(tmp_path_factory):
    return build_index(DOCS, tmp_path_factory.mktemp("idx") / "s2", 2)


def _name(ordinal):
    return "sgs-leaf-%d.sgs-leaf" % ordinal


def _wait(pred, what, timeout=15):
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.03)
    raise AssertionError("not within %.0f s: %s" % (timeout * SLOW, what))


def _replicas(root):
    info = Client(root.port, timeout=5).get("/v1/info").json
    return {r["url"]: r for s in info["shards"] for r in s["replicas"]}


def _write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def test_unresolvable_replica_is_unresolved_not_ready_and_the_rest_serves(idx, cluster):
    leaves = cluster.leaves(idx, 2)
    # Replica 0 of each shard resolves (--resolve); replica 1's names end in
    # .invalid, which never resolves (RFC 6761).
    pattern = "http://sgs-leaf-{ordinal}.sgs-leaf.invalid:7001"
    args = ["--leaf-pattern", pattern, "--shards", 2, "--replicas", 2,
            "--resolve-interval-ms", 200, "--hedge-budget", 0]
    for s in range(2):
        args += ["--resolve", "sgs-leaf-%d.sgs-leaf.invalid=127.0.0.1:%d" % (s, leaves[s][0].port)]
    root = cluster.root({}, *args)
    c = Client(root.port)
    for _ in range(20):
        r = c.search(q="t0 OR t1", k=5)
        assert r.status == 200, r
        a = r.json
        assert a["partial"] is False and a["shards"]["successful"] == 2, a
        assert all(d["retried"] == 0 for d in a["shards"]["details"]), a
    reps = _replicas(root)
    for o in (0, 1):
        rep = reps[pattern.replace("{ordinal}", str(o))]
        assert rep["resolved"] is True and rep["ready"] is True, rep
        assert rep["address"] == "127.0.0.1:%d" % leaves[o][0].port, rep
    for o in (2, 3):
        rep = reps[pattern.replace("{ordinal}", str(o))]
        assert rep["resolved"] is False and rep["ready"] is False and rep["address"] is None, rep
        assert rep["last_error_type"] == "unresolved", rep
        assert "sgs-leaf-%d.sgs-leaf.invalid" % o in rep["last_error"], rep
    # Looked up again and again (every 200 ms), still unresolved, still serving.
    _wait(lambda: _replicas(root)[pattern.replace("{ordinal}", "2")]["lookups"] >= 3,
          "three lookups of an unresolvable name")
    assert c.get("/readyz").status == 200
    assert root.alive()


def test_nothing_resolves_gives_not_ready_and_a_503_naming_it(idx, cluster):
    # The interval through its environment twin: five lookups in well under
    # the 5 s default period.
    root = cluster.root({}, "--leaf-pattern", "http://sgs-leaf-{ordinal}.sgs-leaf.invalid:7001",
                        "--shards", 2, "--replicas", 1, wait=False,
                        env={"SGS_ROOT_RESOLVE_INTERVAL_MS": "100"})
    c = Client(root.port, timeout=5)
    _wait(lambda: all(r["lookups"] >= 5 for r in _replicas(root).values()), "lookups",
          timeout=8)
    assert c.get("/healthz").status == 200
    rz = c.get("/readyz")
    assert rz.status == 503 and rz.json["ready"] is False, rz
    r = c.search(q="t0")
    assert r.status == 503, r
    a = r.json
    assert a["error"]["type"] == "unavailable" and a["shards"]["failed"] == 2, a
    for d in a["shards"]["details"]:
        assert d["status"] == "failed" and d["error_type"] == "unresolved", d
        assert "cannot resolve" in d["error"], d
    assert root.alive()


class FifoWriter:
    """Feeds text to a named pipe each time a reader opens it, until
    stopped; never blocks (a writer opening without a reader gets ENXIO)."""

    def __init__(self, path, text):
        self.path, self.text = path, text
        self.stop = threading.Event()
        self.served = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
                time.sleep(0.005)
                continue
            try:
                os.set_blocking(fd, True)
                os.write(fd, self.text.encode())
                self.served += 1
            except BrokenPipeError:
                pass
            finally:
                os.close(fd)
            time.sleep(0.01)

    def close(self):
        self.stop.set()
        self.thread.join(10)


def test_a_hanging_lookup_never_blocks_the_loop(idx, cluster, tmp_path):
    """--resolve-file is a FIFO nobody writes: every lookup hangs in open(). The
    loop-served endpoints still answer; once the FIFO is fed, the replicas
    resolve and the root turns ready."""
    leaves = cluster.leaves(idx, 2)
    fifo = str(tmp_path / "hosts.fifo")
    os.mkfifo(fifo)
    root = cluster.root({}, "--leaf-pattern", PATTERN, "--shards", 2, "--replicas", 1,
                        "--resolve-file", fifo, "--resolve-interval-ms", 100, wait=False)
    writer = None
    try:
        c = Client(root.port, timeout=5)
        for _ in range(10):
            assert c.get("/healthz").status == 200
            rz = c.get("/readyz")  # answered by the event loop itself
            assert rz.status == 503, rz
            reps = _replicas(root)  # so is /v1/info
            assert all(r["resolved"] is False and r["lookups"] == 0 for r in reps.values()), reps
            r = c.search(q="t0", timeout_ms=200)
            assert r.status == 503 and r.json["shards"]["failed"] == 2, r
            time.sleep(0.05)
        text = "".join("%s:7001=127.0.0.1:%d\n" % (_name(s), leaves[s][0].port) for s in range(2))
        # The writer feeds the FIFO through a second name, so a lookup still
        # waiting in open() is served after the path turns into a plain file.
        os.link(fifo, fifo + ".link")
        writer = FifoWriter(fifo + ".link", text)
        _wait(lambda: c.get("/readyz").status == 200, "ready once the lookup returns")
        # A FIFO may hand a lookup another one's leftovers; from here on the
        # names come from a plain file, once every lookup has moved to it.
        _write_atomic(fifo, text)
        seen = {u: r["lookups"] for u, r in _replicas(root).items()}
        _wait(lambda: all(r["lookups"] >= seen[u] + 2 and r["ready"]
                          for u, r in _replicas(root).items()), "lookups from the plain file")
        a = c.search(q="t0 OR t1").json
        assert a["partial"] is False and a["shards"]["successful"] == 2, a
        # Stop while the writer still serves the FIFO, so no lookup hangs.
        rc = root.stop()
        assert rc == 0, root.stderr()[-2000:]
    finally:
        if writer:
            writer.close()


def test_replica_back_at_another_address_is_picked_up(idx, cluster, tmp_path):
    leaves = cluster.leaves(idx, 2)
    hosts = str(tmp_path / "hosts")
    _write_atomic(hosts, "".join("%s=127.0.0.1:%d\n" % (_name(s), leaves[s][0].port)
                                 for s in range(2)))
    root = cluster.root({}, "--leaf-pattern", PATTERN, "--shards", 2, "--replicas", 1,
                        "--resolve-file", hosts, "--resolve-interval-ms", 100,
                        "--probe-interval-ms", 100)
    url1 = PATTERN.replace("{ordinal}", "1")
    c = Client(root.port)
    assert c.search(q="t0").json["partial"] is False
    old = leaves[1][0]
    old_port = old.port
    old.kill9()
    # The pod comes back elsewhere: a new leaf on a new port; DNS (here the
    # file) says so.
    new = cluster.leaf(idx, 1)
    assert new.port != old_port
    _write_atomic(hosts, "%s=127.0.0.1:%d\n%s=127.0.0.1:%d\n" % (
        _name(0), leaves[0][0].port, _name(1), new.port))
    rep = _wait(lambda: (lambda x: x if x["ready"] and
                         x["address"] == "127.0.0.1:%d" % new.port else None)(
        _replicas(root)[url1]), "the moved replica ready at its new address")
    assert rep["resolved"] is True, rep
    for _ in range(10):
        a = c.search(q="t0 OR t1", k=5).json
        assert a["partial"] is False and a["shards"]["successful"] == 2, a
    # The name goes away (the pod is deleted): unresolved, not ready, 503s
    # with allow_partial false name it; the other shard still answers.
    _write_atomic(hosts, "%s=127.0.0.1:%d\n" % (_name(0), leaves[0][0].port))
    _wait(lambda: _replicas(root)[url1]["resolved"] is False, "the deleted name unresolved")
    r = c.search(q="t0", allow_partial=False)
    assert r.status == 503, r
    [d] = [d for d in r.json["shards"]["details"] if d["shard"] == 1]
    assert d["error_type"] == "unresolved", d
    a = c.search(q="t0").json
    assert a["partial"] is True and a["shards"]["successful"] == 1, a
