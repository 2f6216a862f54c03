"""The StatefulSet contract on loopback: leaves started as pods sgs-leaf-0 ..
sgs-leaf-7 of a 4-shard index and a root, each with the arguments of its
container in the rendered k8s/base manifests ($(VAR)s filled in as the
kubelet would; --listen and --index pointed at loopback and a local index),
plus the root's name mapping (--resolve-file standing in for cluster DNS), so
the StatefulSet names resolve to the loopback leaves. The root's answers equal a
1-shard leaf's; a "pod" restarted under the same name (new port, as a new pod
gets a new IP) under steady load costs no query."""
import json
import os
import random
import re
import signal
import threading
import time
from urllib.parse import quote

import pytest

import k8s_lib
import kustomize_lite
import sgs

NAMESPACE = "search"

pytestmark = pytest.mark.skipif(not os.path.exists(sgs.SGS_ROOT),
                                reason="sgs-root is not built (root/ has no sources yet)")


def pod(n):
    return f"sgs-leaf-{n}"


def manifest_args(docs, kind, env):
    """The args of the kind's main container, $(VAR) expanded from env, minus
    --listen and --index (the test's helpers set those)."""
    (w,) = [d for d in docs if d["kind"] == kind]
    (c,) = w["spec"]["template"]["spec"]["containers"]
    out = []
    for a in c["args"]:
        if a.startswith(("--listen", "--index")):
            continue
        out.append(re.sub(r"\$\((\w+)\)", lambda m: str(env[m.group(1)]), a))
    return out


BASE = kustomize_lite.build(os.path.join(k8s_lib.K8S, "base"))
CONFIG = [d for d in BASE if d["kind"] == "ConfigMap"][0]["data"]
SHARDS, REPLICAS = int(CONFIG["SHARDS"]), int(CONFIG["REPLICAS"])
ROOT_ARGS = manifest_args(BASE, "Deployment", {"POD_NAMESPACE": NAMESPACE, **CONFIG})
PATTERN = [a.split("=", 1)[1] for a in ROOT_ARGS if a.startswith("--leaf-pattern=")][0]
HOST_SUFFIX = PATTERN.split("{ordinal}", 1)[1].split(":", 1)[0]  # .sgs-leaf.<ns>.svc...


class Cluster:
    def __init__(self, tmp, idx):
        self.tmp, self.idx = str(tmp), idx
        self.resolve_file = os.path.join(self.tmp, "resolve.txt")
        self.leaves = {}

    def start_leaf(self, n):
        """Starts 'pod' n the way the StatefulSet does: same flags, its name."""
        args = manifest_args(BASE, "StatefulSet", {"POD_NAME": pod(n)})
        assert "--shard-from-hostname" in args
        leaf = sgs.Leaf(self.idx, *args, shard=None, tmp_dir=self.tmp)
        self.leaves[n] = leaf
        self.write_resolve()
        return leaf

    def write_resolve(self):
        """The cluster DNS: name -> current address, replaced atomically."""
        tmp = self.resolve_file + ".tmp"
        with open(tmp, "w") as f:
            for n, leaf in sorted(self.leaves.items()):
                f.write(f"{pod(n)}{HOST_SUFFIX}=127.0.0.1:{leaf.port}\n")
        os.rename(tmp, self.resolve_file)


def search(http, q, k=10):
    r = http.get("/search?q=%s&k=%d" % (quote(q), k))
    return r


def leaf_answer(http, q, k=10):
    r = http.post("/v1/shard/search", json_body={"q": q, "k": k},
                  headers={"Accept": "application/json"})
    assert r.status == 200, r
    return r.json


def same_answer(root_json, leaf_json, q):
    assert root_json["total"] == {"value": leaf_json["total"], "relation": "eq"}, q
    assert root_json["partial"] is False, q
    got = [(h["id"], h["score"]) for h in root_json["hits"]]
    want = [(h["id"], h["score"]) for h in leaf_json["hits"]]
    assert [i for i, _ in got] == [i for i, _ in want], q
    for (_, a), (_, b) in zip(got, want):
        assert abs(a - b) <= 1e-5 * max(abs(b), 1e-9), (q, a, b)


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout * sgs.SLOW
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def ok_queries(leaf):
    text = sgs.http_get(leaf.url, "/metrics").body.decode()
    for line in text.splitlines():
        if line.startswith('sgs_leaf_queries_total{status="ok"}'):
            return float(line.split()[-1])
    raise AssertionError("leaf /metrics has no sgs_leaf_queries_total{status=\"ok\"}")


def replica_states(root):
    info = sgs.http_get(root.url, "/v1/info").json
    return {rep["url"]: rep for s in info["shards"] for rep in s["replicas"]}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    seed = sgs.test_seed()
    docs = sgs.synthetic_docs(seed, 1500)
    tmp = tmp_path_factory.mktemp("sts")
    idx4 = sgs.build_index(docs, tmp / "idx4", SHARDS)
    idx1 = sgs.build_index(docs, tmp / "idx1", 1)
    c = Cluster(tmp, idx4)
    for n in range(SHARDS * REPLICAS):
        c.start_leaf(n)
    c.single = sgs.Leaf(idx1, shard=0, tmp_dir=str(tmp))
    # A shorter probe interval than the manifest's default only speeds the test.
    c.root = sgs.Root({}, *ROOT_ARGS, "--resolve-file", c.resolve_file,
                      "--probe-interval-ms", 100, tmp_dir=str(tmp))
    c.rng = random.Random(seed)
    c.words = sorted({t for d in docs for t in sgs.tokenize(d.get("title", ""))})
    yield c
    c.root.stop()
    for leaf in c.leaves.values():
        leaf.stop()
    c.single.stop()


def queries(c, n):
    out = []
    for _ in range(n):
        a, b, d = (c.rng.choice(c.words) for _ in range(3))
        out.append(c.rng.choice([a, f"{a} {b}", f"{a} OR {b}", f"{a} -{b}", f"({a} OR {b}) {d}"]))
    return out


def test_each_pod_serves_ordinal_mod_shards(cluster):
    for n, leaf in cluster.leaves.items():
        info = sgs.http_get(leaf.url, "/v1/shard/info").json
        assert info["shard"] == n % SHARDS and info["shard_count"] == SHARDS


def test_root_expands_the_pattern_by_replica_times_shards_plus_shard(cluster):
    info = sgs.http_get(cluster.root.url, "/v1/info").json
    assert len(info["shards"]) == SHARDS
    for s in info["shards"]:
        urls = [rep["url"] for rep in s["replicas"]]
        assert urls == [PATTERN.replace("{ordinal}", str(r * SHARDS + s["shard"]))
                        for r in range(REPLICAS)]
        assert all(rep["ready"] for rep in s["replicas"]), s


def test_root_answers_like_one_unsharded_leaf(cluster):
    with sgs.Http(cluster.root.url) as root, sgs.Http(cluster.single.url) as single:
        for q in queries(cluster, 150):
            r = search(root, q)
            assert r.status == 200, (q, r)
            same_answer(r.json, leaf_answer(single, q), q)


@pytest.mark.parametrize("n,sig", [(5, signal.SIGTERM), (2, signal.SIGKILL)])
def test_pod_restart_under_load_fails_no_query(cluster, n, sig):
    """SIGTERM as in a rolling update (the leaf drains), SIGKILL as a crash;
    the pod comes back under its name at a new address."""
    qs = queries(cluster, 40)
    with sgs.Http(cluster.single.url) as single:
        expected = {q: leaf_answer(single, q) for q in qs}
    failures, answered, stop = [], [0], threading.Event()

    def load(worker):
        rng = random.Random(worker)
        with sgs.Http(cluster.root.url, timeout=10) as root:
            for _ in range(20000):  # bounded; the test stops it much sooner
                if stop.is_set():
                    return
                q = rng.choice(qs)
                try:
                    r = search(root, q)
                    if r.status != 200:
                        failures.append((q, r.status, r.body[:200]))
                        continue
                    same_answer(r.json, expected[q], q)
                    answered[0] += 1
                except Exception as e:  # noqa: BLE001 - every failure is counted
                    failures.append((q, repr(e)))
                time.sleep(0.002)

    threads = [threading.Thread(target=load, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: answered[0] >= 50, 20, "load to start")
        old = cluster.leaves[n]
        if sig == signal.SIGTERM:
            old.stop(expect=0)
        else:
            old.kill()
        before = answered[0]
        wait_for(lambda: answered[0] >= before + 50, 20, "answers while the pod is down")
        new = cluster.start_leaf(n)
        url = PATTERN.replace("{ordinal}", str(n))
        wait_for(lambda: replica_states(cluster.root)[url]["ready"], 30,
                 f"{pod(n)} back in rotation")
        # The restarted pod gets its share of the queries again.
        wait_for(lambda: ok_queries(new) > 0, 30, f"{pod(n)} answering the root again")
        before = answered[0]
        wait_for(lambda: answered[0] >= before + 100, 20, "answers after the restart")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not failures, failures[:5]
    assert answered[0] > 0
