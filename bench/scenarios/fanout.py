#!/usr/bin/python3
"""Fan-out: one corpus split into 1, 2, 4, 8 and 16 shards (one replica
each) behind the root; for each, the maximum throughput (closed loop) and
the latency at a fixed open-loop rate. Shows where more leaves stop
helping: each query waits for the slowest of n leaves, and with n leaves
the chance that one straggles is 1 - (1 - p)^n.

usage: bench/scenarios/fanout.py [--short] [--out DIR] [--rate R]"""
import argparse
import shutil
import sys

import cluster as C


def main():
    ap = C.common_args(argparse.ArgumentParser(description=__doc__))
    ap.add_argument("--docs", type=int)
    ap.add_argument("--rate", type=float)
    ap.add_argument("--leaves", default="1,2,4,8,16")
    ap.add_argument("--root-flag", action="append", default=[], help="extra sgs-root flag")
    a = ap.parse_args()
    miss = C.missing_programs()
    if miss:
        sys.exit(f"fanout: not built: {' '.join(miss)}")
    out, scratch = C.workdir(a, "fanout")
    docs = a.docs or (5000 if a.short else 200000)
    counts = [int(x) for x in a.leaves.split(",")]
    if a.short:
        counts = [n for n in counts if n <= 4]
    rate = a.rate or (100 if a.short else 200)
    runs, rows = [], []
    try:
        queries = None
        for n in counts:
            idx = C.build_index(scratch, docs, n)
            if queries is None:
                queries = C.make_queries(idx, f"{scratch}/queries.tsv",
                                         per_class=30 if a.short else 200)
            C.set_sched(a.rt, a.nice)
            with C.Cluster(idx, n, 1, scratch, a.root_flag) as cl:
                mx = C.bench(cl.root.url, queries, out, f"max-{n}", connections=8,
                             duration=1.5 if a.short else 5, warmup=0.5 if a.short else 1)
                rep = C.bench(cl.root.url, queries, out, f"rate-{n}", rate=rate,
                              duration=2 if a.short else 15, warmup=0.5 if a.short else 2)
            C.set_sched()
            L = rep["latency_ms"]
            rows.append([n, f"{mx['achieved_rate']:.0f}", f"{mx['latency_ms']['p50']:.2f}",
                         *(f"{L[k]:.2f}" for k in ("p50", "p90", "p99", "p999")), rep["errors"]])
            runs.append({"leaves": n, "max_rate": mx["achieved_rate"],
                         "max_probe_latency_ms": mx["latency_ms"], "rate": rate,
                         "latency_ms": L, "errors": rep["errors"],
                         "generator_saturated": rep["generator"]["saturated"]})
            C.plot_percentiles(out, "fanout", f"fan-out, {rate:.0f} req/s open loop",
                               [(f"{r['leaves']} leaves", C.json.load(open(f"{out}/rate-{r['leaves']}.json")))
                                for r in runs])
        header = ["leaves", "max req/s", "max-probe p50", "p50", "p90", "p99", "p99.9", "errors"]
        print(f"fan-out: {docs} docs, one replica a shard, open loop {rate:.0f} req/s (ms)")
        print(C.table(header, rows))
        C.write_summary(out, {"scenario": "fanout", "short": a.short, "docs": docs,
                              "header": header, "rows": rows, "runs": runs})
        print(f"results: {out}")
    finally:
        if not a.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
