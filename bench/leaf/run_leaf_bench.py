#!/usr/bin/python3
"""Runs the leaf query benchmark on one corpus whose indexes are built:
sgsearch in process (bench_eval), Xapian in process (xapian_query), SQLite
FTS5 in process (fts5_query), then sgs-leaf over HTTP (wrk with a Lua script
cycling through the queries of one class: -c1 for per-query latency with
keep-alive from one client, -cN for throughput), for TOP-10 (k = 10) and
COUNT (k = 0), on the same query file. Before timing, the exact counts of
every query from the leaf (k = 0), Xapian and FTS5 are compared.

Prints one JSON line per measurement on stdout and writes all of them, with
the machine and the agreement check, to --json.

usage: run_leaf_bench.py --corpus NAME --dir WORKDIR --queries FILE --build B
           --peers-bin DIR [--json OUT] [--repeat R] [--peer-repeat R] [--wrk-seconds S]
           [--wrk-connections N] [--leaf-threads T]
WORKDIR holds sgs/ (sgs-index output, one shard), xapian/ and fts5.db.
"""
import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time

MODES = {"top10": 10, "count": 0}


def log(msg):
    sys.stderr.write("bench-leaf: %s\n" % msg)
    sys.stderr.flush()


def read_queries(path):
    qs = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "\t" in line:
                cls, q = line.split("\t", 1)
                qs.append((cls, q))
    return qs


def bench_eval(a, mode):
    """Per-class records parsed from bench_eval's table."""
    out = subprocess.run([os.path.join(a.build, "bench", "bench_eval"), os.path.join(a.dir, "sgs"),
                          a.queries, "--mode", mode, "--repeat", str(a.repeat)]
                         + (["--cpu-batch"] if a.cpu_batch else []),
                         check=True, capture_output=True, text=True).stdout
    recs = []
    head = None
    for line in out.splitlines():
        cols = line.split()
        if cols and cols[0] == "class":
            head = cols
            continue
        if head and len(cols) == len(head):
            r = dict(zip(head, cols))
            recs.append({"engine": "sgsearch", "mode": mode, "class": r["class"],
                         "queries": int(r["n"]), "mean_us": float(r["mean_us"]),
                         "p50_us": float(r["p50_us"]), "p99_us": float(r["p99_us"]),
                         "qps": float(r["qps"]), "mean_total": float(r["mean_total"])})
            if "cpu_us" in r:
                recs[-1]["cpu_us"] = float(r["cpu_us"])
    if not recs:
        raise SystemExit("bench-leaf: no table from bench_eval:\n" + out)
    return recs


def subset(a, per_class):
    """A query file with the first per_class queries of each class."""
    path = os.path.join(tempfile.gettempdir(), "sgs-bench-q%d.%d.tsv" % (per_class, os.getpid()))
    seen = {}
    with open(path, "w") as out:
        for cls, q in read_queries(a.queries):
            seen[cls] = seen.get(cls, 0) + 1
            if seen[cls] <= per_class:
                out.write("%s\t%s\n" % (cls, q))
    return path


def peer(a, tool, db, mode):
    qfile = a.queries
    if tool == "fts5_query" and mode == "top10" and a.fts5_top10_max > 0:
        qfile = subset(a, a.fts5_top10_max)
    try:
        return peer_run(a, tool, db, mode, qfile)
    finally:
        if qfile != a.queries:
            os.unlink(qfile)


def peer_run(a, tool, db, mode, qfile):
    out = subprocess.run([os.path.join(a.peers_bin, tool), db, qfile, "--mode", mode,
                          "--repeat", str(a.peer_repeat)]
                         + (["--cpu-batch"] if a.cpu_batch else []),
                         check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def peer_counts(a, tool, db):
    out = subprocess.run([os.path.join(a.peers_bin, tool), db, a.queries, "--counts"],
                         check=True, capture_output=True, text=True).stdout
    return [json.loads(line)["count"] for line in out.splitlines() if line.startswith("{")]


class Leaf:
    """One sgs-leaf on 127.0.0.1 with an OS-chosen port; stopped by its PID."""

    def __init__(self, a):
        self.tmp = tempfile.mkdtemp(prefix="sgs-bench-leaf.")
        pf = os.path.join(self.tmp, "port")
        self.proc = subprocess.Popen([os.path.join(a.build, "sgs-leaf"), "--index",
                                      os.path.join(a.dir, "sgs"), "--shard", "0", "--listen",
                                      "127.0.0.1:0", "--port-file", pf, "--threads",
                                      str(a.leaf_threads), "--log-level", "warn"])
        deadline = time.time() + 120
        while not (os.path.exists(pf) and open(pf).read().strip()):
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit("bench-leaf: sgs-leaf did not start")
            time.sleep(0.1)
        self.port = int(open(pf).read())
        while True:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                break
            if time.time() > deadline:
                raise SystemExit("bench-leaf: sgs-leaf not ready")
            time.sleep(0.1)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def search(self, q, k):
        body = json.dumps({"q": q, "k": k})
        self.conn.request("POST", "/v1/shard/search", body, {"Content-Type": "application/json"})
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise SystemExit("bench-leaf: leaf answered %d to %r: %s" % (r.status, q, data[:200]))
        return json.loads(data)

    def stop(self):
        self.conn.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)
        for f in os.listdir(self.tmp):
            os.unlink(os.path.join(self.tmp, f))
        os.rmdir(self.tmp)


LUA = r"""
local bodies = { %s }
local reqs = {}
local i = 0
init = function(args)
  for j, b in ipairs(bodies) do
    reqs[j] = wrk.format("POST", "/v1/shard/search",
                         {["Content-Type"] = "application/json"}, b)
  end
  i = math.random(#reqs)
end
request = function()
  i = i %% #reqs + 1
  return reqs[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%%d,"duration_us":%%d,"socket_errors":%%d,' ..
    '"non2xx":%%d,"mean_us":%%.1f,"p50_us":%%d,"p99_us":%%d}\n', summary.requests,
    summary.duration, e.connect + e.read + e.write + e.timeout, e.status, latency.mean,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk(a, port, queries, k, conns, tmp):
    script = os.path.join(tmp, "q.lua")
    bodies = ", ".join("[==[%s]==]" % json.dumps({"q": q, "k": k}) for q in queries)
    with open(script, "w") as f:
        f.write(LUA % bodies)
    threads = 1 if conns == 1 else min(2, conns)
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % a.wrk_seconds, "-s", script,
           "http://127.0.0.1:%d/v1/shard/search" % port]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    m = re.search(r"WRKJSON (\{.*\})", out)
    if not m:
        raise SystemExit("bench-leaf: no summary from wrk:\n" + out)
    r = json.loads(m.group(1))
    r["qps"] = round(r["requests"] / (r["duration_us"] / 1e6), 1)
    if r["socket_errors"] or r["non2xx"]:
        log("wrk errors: %s" % r)
    return r


def agreement(a, leaf, qs):
    """Exact counts of every query: leaf (k = 0) against Xapian and FTS5."""
    ours = [leaf.search(q, 0)["total"] for _, q in qs]
    res = {"queries": len(qs)}
    for tool, db, name in (("xapian_query", os.path.join(a.dir, "xapian"), "xapian"),
                           ("fts5_query", os.path.join(a.dir, "fts5.db"), "fts5")):
        theirs = peer_counts(a, tool, db)
        if len(theirs) != len(ours):
            raise SystemExit("bench-leaf: %s gave %d counts for %d queries"
                             % (name, len(theirs), len(ours)))
        diff = [(qs[i][1], ours[i], theirs[i]) for i in range(len(qs)) if ours[i] != theirs[i]]
        rel = [abs(o - t) / max(o, t) for _, o, t in diff]
        res[name] = {"equal": len(qs) - len(diff), "differ": len(diff),
                     "max_rel_diff": round(max(rel), 5) if rel else 0.0,
                     "examples": [{"q": q, "sgsearch": o, name: t} for q, o, t in diff[:5]]}
        log("%s counts: %d of %d equal%s" % (name, len(qs) - len(diff), len(qs),
                                             ", max relative difference %.4f" % max(rel)
                                             if rel else ""))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--peers-bin", required=True)
    ap.add_argument("--json")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peer-repeat", type=int, default=1)
    # FTS5 ranks every match of an OR before LIMIT (0.1 - 1 s a query on 1M
    # docs): its TOP-10 rows use the first N queries of each class.
    ap.add_argument("--fts5-top10-max", type=int,
                    default=int(os.environ.get("SGS_BENCH_FTS5_TOP10_MAX", "50")))
    ap.add_argument("--wrk-seconds", type=int, default=3)
    ap.add_argument("--wrk-connections", type=int, default=8)
    ap.add_argument("--leaf-threads", type=int, default=0)
    # Every in-process engine reads the thread CPU clock once per pass over a
    # class instead of around each query (a system call of 1 - 3 us on a
    # guest, which would otherwise land in every query's figures).
    ap.add_argument("--cpu-batch", action="store_true",
                    default=os.environ.get("SGS_BENCH_CPU_BATCH", "0") == "1")
    a = ap.parse_args()

    qs = read_queries(a.queries)
    classes = []
    for cls, _ in qs:
        if cls not in classes:
            classes.append(cls)
    n_docs = json.load(open(os.path.join(a.dir, "sgs", "manifest.json"))).get("docs")
    recs = []

    def emit(r):
        r["corpus"] = a.corpus
        print(json.dumps(r))
        sys.stdout.flush()
        recs.append(r)

    load_start = open("/proc/loadavg").read().split()[:3]
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    leaf = Leaf(a)
    try:
        agree = agreement(a, leaf, qs)
        for mode in MODES:
            log("%s: in process, %s" % (a.corpus, mode))
            for r in bench_eval(a, mode):
                emit(r)
            for r in peer(a, "xapian_query", os.path.join(a.dir, "xapian"), mode):
                emit(r)
            for r in peer(a, "fts5_query", os.path.join(a.dir, "fts5.db"), mode):
                emit(r)
        tmp = tempfile.mkdtemp(prefix="sgs-bench-wrk.")
        try:
            for mode, k in MODES.items():
                log("%s: sgs-leaf over HTTP, %s" % (a.corpus, mode))
                for cls in classes:
                    cq = [q for c, q in qs if c == cls]
                    lat = wrk(a, leaf.port, cq, k, 1, tmp)
                    thr = wrk(a, leaf.port, cq, k, a.wrk_connections, tmp)
                    emit({"engine": "sgs-leaf-http", "mode": mode, "class": cls,
                          "queries": len(cq), "mean_us": lat["mean_us"], "p50_us": lat["p50_us"],
                          "p99_us": lat["p99_us"], "qps_1conn": lat["qps"], "qps": thr["qps"],
                          "conns": a.wrk_connections, "thr_p50_us": thr["p50_us"],
                          "thr_p99_us": thr["p99_us"],
                          "errors": lat["socket_errors"] + lat["non2xx"] + thr["socket_errors"]
                          + thr["non2xx"]})
        finally:
            for f in os.listdir(tmp):
                os.unlink(os.path.join(tmp, f))
            os.rmdir(tmp)
    finally:
        leaf.stop()
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"corpus": a.corpus, "n_docs": n_docs, "started": started,
                       "load_start": load_start,
                       "load_end": open("/proc/loadavg").read().split()[:3], "agreement": agree,
                       "repeat": a.repeat, "peer_repeat": a.peer_repeat, "cpu_batch": a.cpu_batch,
                       "fts5_top10_queries_per_class": a.fts5_top10_max, "wrk_seconds": a.wrk_seconds,
                       "wrk_connections": a.wrk_connections, "records": recs}, f, indent=1)


if __name__ == "__main__":
    main()
