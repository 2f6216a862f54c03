"""The root's pool of leaf connections across a burst: every connection a
burst of concurrent sub-requests opened is kept once the answers are in
(not closed past a small idle cap), and the next burst of the same size
reuses them instead of connecting again."""
import json
import os
import signal
import socket
import time

import pytest

from cluster_conftest import SLOW, Client, build_index, metrics, vocab_docs

DOCS = vocab_docs(31, 300, vocab=20)
BURST = 100  # concurrent queries: above the old idle cap of 64 per replica


@pytest.fixture(scope="module")
def idx(tmp_path_factory):
    return build_index(DOCS, tmp_path_factory.mktemp("idx") / "s1", 1)


def _replica(port):
    info = Client(port).get("/v1/info").json
    return info["shards"][0]["replicas"][0]


def _leaf_peers(leaf_port):
    """Remote ports of the established TCP connections into leaf_port."""
    peers = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                lines = f.readlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            f = line.split()
            local, remote, state = f[1], f[2], f[3]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == leaf_port:
                peers.add(int(remote.rsplit(":", 1)[1], 16))
    return peers


def _wait_stopped(pid):
    """Waits until every thread of pid is in the stopped state: SIGSTOP is
    not instantaneous on a busy machine, and a thread still running would
    answer part of the burst."""
    deadline = time.monotonic() + 20 * SLOW
    while True:
        states = []
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except FileNotFoundError:
                pass
        if states and all(st in ("T", "t") for st in states):
            return
        assert time.monotonic() < deadline, states
        time.sleep(0.005)


def _burst(root, leaf):
    """BURST queries at once while the leaf is frozen, so each needs its own
    leaf connection; returns the answers' status lines."""
    body = json.dumps({"q": "t0 t1", "k": 3, "timeout_ms": 20000}).encode()
    req = (b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    socks = []
    leaf.signal(signal.SIGSTOP)
    try:
        _wait_stopped(leaf.pid)
        for _ in range(BURST):
            s = socket.create_connection(("127.0.0.1", root.port), timeout=30 * SLOW)
            s.sendall(req)
            socks.append(s)
        deadline = time.monotonic() + 20 * SLOW
        while _replica(root.port)["in_flight"] < BURST:
            assert time.monotonic() < deadline, (_replica(root.port), sorted(
                (k, v) for k, v in metrics(root.port).items() if "requests_total" in k))
            time.sleep(0.01)
    finally:
        leaf.signal(signal.SIGCONT)
    statuses = []
    for s in socks:
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        statuses.append(data.split(b"\r\n", 1)[0])
        s.close()
    return statuses


def test_a_burst_keeps_its_leaf_connections_and_the_next_reuses_them(idx, cluster):
    leaf = cluster.leaf(idx, 0)
    root = cluster.root({0: [leaf]}, "--probe-interval-ms", "600000", "--hedge-budget", "0")
    statuses = _burst(root, leaf)
    assert all(b" 200 " in st for st in statuses), statuses
    deadline = time.monotonic() + 20 * SLOW
    while _replica(root.port)["in_flight"]:
        assert time.monotonic() < deadline, _replica(root.port)
        time.sleep(0.01)
    rep = _replica(root.port)
    assert rep["idle_connections"] >= BURST, rep
    peers = _leaf_peers(leaf.port)
    assert len(peers) >= BURST, sorted(peers)

    statuses = _burst(root, leaf)
    assert all(b" 200 " in st for st in statuses), statuses
    # No new connection into the leaf: the second burst rode the first's.
    assert _leaf_peers(leaf.port) <= peers
    assert _replica(root.port)["idle_connections"] >= BURST
