#!/usr/bin/python3
"""Baseline: 4 shards x 2 replicas on loopback; measure the maximum
throughput through the root (closed loop), then run open loop at half of it
and report the latency percentiles. Writes summary.json, one sgs-bench JSON
per run and baseline.png into the results folder.

usage: bench/scenarios/baseline.py [--short] [--out DIR] [--docs N] [--rate R]
                                   [--rt PRIO | --nice N] [--cache DIR]
--rt PRIO runs the servers and the generator under SCHED_FIFO (see cluster.py)."""
import argparse
import shutil
import sys

import cluster as C


def probe_max(url, queries, out, short, connections=16):
    rep = C.bench(url, queries, out, "max-probe", connections=connections,
                  duration=2 if short else 10, warmup=0.5 if short else 2)
    return rep


def main():
    ap = C.common_args(argparse.ArgumentParser(description=__doc__))
    ap.add_argument("--docs", type=int)
    ap.add_argument("--rate", type=float, help="open-loop rate (default: half the probed max)")
    ap.add_argument("--root-flag", action="append", default=[], help="extra sgs-root flag")
    a = ap.parse_args()
    miss = C.missing_programs()
    if miss:
        sys.exit(f"baseline: not built: {' '.join(miss)}")
    out, scratch = C.workdir(a, "baseline")
    docs = a.docs or (5000 if a.short else 200000)
    try:
        idx, queries = C.index_and_queries(a, scratch, docs, 4, 30 if a.short else 200)
        C.set_sched(a.rt, a.nice)
        load = C.load_average()
        with C.Cluster(idx, 4, 2, scratch, a.root_flag) as cl:
            mx = probe_max(cl.root.url, queries, out, a.short)
            rate = a.rate or max(10.0, round(mx["achieved_rate"] / 2))
            before = cl.leaf_queries()
            rep = C.bench(cl.root.url, queries, out, "baseline", rate=rate,
                          duration=3 if a.short else 30, warmup=0.5 if a.short else 3)
            leaf_reqs = cl.leaf_queries() - before
            sched = C.SCHED["label"]
            C.set_sched()
        L = rep["latency_ms"]
        summary = {"scenario": "baseline", "short": a.short, "docs": docs, "shards": 4,
                   "replicas": 2, "max_rate": mx["achieved_rate"], "max_probe_latency_ms": mx["latency_ms"],
                   "rate": rate, "achieved_rate": rep["achieved_rate"], "latency_ms": L,
                   "errors": rep["errors"], "partial": rep["partial"], "requests": rep["requests"],
                   "leaf_requests_per_query": leaf_reqs / max(1, rep["sent_total"]),
                   "generator_saturated": rep["generator"]["saturated"],
                   "sched": sched, "load_average_before": load,
                   "load_average_after": C.load_average()}
        C.write_summary(out, summary)
        C.plot_percentiles(out, "baseline", f"baseline 4x2, {rate:.0f} req/s open loop",
                           [(f"open loop {rate:.0f}/s", rep), ("closed loop max probe", mx)])
        print(C.table(["run", "req/s", "p50", "p90", "p99", "p99.9", "max", "errors"],
                      [[n, f"{r['achieved_rate']:.0f}", *(f"{r['latency_ms'][k]:.2f}" for k in
                                                          ("p50", "p90", "p99", "p999", "max")),
                        r["errors"]] for n, r in (("max-probe", mx), ("baseline", rep))]))
        print(f"results: {out}")
    finally:
        if not a.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
