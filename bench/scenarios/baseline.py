#!/usr/bin/python3
"""Baseline: 4 shards x 2 replicas on loopback; measure the maximum
throughput through the root, then run open loop at half of it and report
the latency percentiles.

The maximum is measured twice. Closed loop (16 connections) gives the
throughput when requests queue: each wake-up of a server serves several, so
a request costs less CPU than it does one at a time. Open loop at a rate r
is what the baseline then runs, so the maximum it halves is the open-loop
one: stepping up from a fifth of the closed-loop maximum in tenths of it,
the last rate sustained (achieved >= 98 % of the target, no errors, the
generator kept its schedule, p99 <= --p99-bound-ms). The CPU time and
context switches per request of the root and the leaves are reported for
the closed-loop probe and the baseline run. Writes summary.json, one
sgs-bench JSON per run and baseline.png into the results folder.

usage: bench/scenarios/baseline.py [--short] [--out DIR] [--docs N] [--rate R]
                                   [--p99-bound-ms MS] [--rt PRIO | --nice N]
                                   [--cache DIR]
--rt PRIO runs the servers and the generator under SCHED_FIFO (see cluster.py)."""
import argparse
import shutil
import sys

import cluster as C


def measured(cl, url, queries, out, name, **kw):
    """Runs sgs-bench; adds the root's and the leaves' CPU time (us) and
    context switches per request sent (warm-up included) to its report."""
    c0 = cl.cpu()
    rep = C.bench(url, queries, out, name, **kw)
    c1 = cl.cpu()
    n = max(1, rep["sent_total"])
    rep["cpu_per_request"] = {
        who: {"cpu_us": 1e6 * (c1[who][0] - c0[who][0]) / n,
              "switches": (c1[who][1] - c0[who][1]) / n} for who in ("root", "leaves")}
    return rep


def sustained(rep, target, p99_bound_ms):
    return (rep["achieved_rate"] >= 0.98 * target and rep["errors"] == 0
            and not rep["generator"]["saturated"] and rep["latency_ms"]["p99"] <= p99_bound_ms)


def open_loop_max(cl, url, queries, out, closed_max, short, p99_bound_ms):
    """Steps up from a fifth of the closed-loop maximum in tenths of it (up
    from below, so that no step starts in the backlog an overloaded one
    left); the last sustained rate before the first that is not is the
    open-loop maximum (the lowest step when none is). Returns (rate, steps)."""
    steps = []
    fractions = (0.2, 0.3) if short else (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    best = None
    for f in fractions:
        rate = max(10.0, round(closed_max * f))
        rep = C.bench(url, queries, out, f"open-max-{round(100 * f)}", rate=rate,
                      duration=1 if short else 5, warmup=0.3 if short else 1)
        ok = sustained(rep, rate, p99_bound_ms)
        steps.append({"fraction": f, "rate": rate, "achieved_rate": rep["achieved_rate"],
                      "p99": rep["latency_ms"]["p99"], "errors": rep["errors"],
                      "generator_saturated": rep["generator"]["saturated"], "sustained": ok})
        if not ok:
            break
        best = rate
    return (best if best is not None else steps[0]["rate"]), steps


def main():
    ap = C.common_args(argparse.ArgumentParser(description=__doc__))
    ap.add_argument("--docs", type=int)
    ap.add_argument("--rate", type=float, help="open-loop rate (default: half the probed max)")
    ap.add_argument("--root-flag", action="append", default=[], help="extra sgs-root flag")
    ap.add_argument("--p99-bound-ms", type=float, default=20.0,
                    help="p99 above this means a rate is not sustained (open-loop max search)")
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
            mx = measured(cl, cl.root.url, queries, out, "max-probe", connections=16,
                          duration=2 if a.short else 10, warmup=0.5 if a.short else 2)
            open_max, steps = (None, [])
            if not a.rate:
                open_max, steps = open_loop_max(cl, cl.root.url, queries, out, mx["achieved_rate"],
                                                a.short, a.p99_bound_ms)
            rate = a.rate or max(10.0, round(open_max / 2))
            before = cl.leaf_queries()
            rep = measured(cl, cl.root.url, queries, out, "baseline", rate=rate,
                           duration=3 if a.short else 30, warmup=0.5 if a.short else 3)
            leaf_reqs = cl.leaf_queries() - before
            sched = C.SCHED["label"]
            C.set_sched()
        L = rep["latency_ms"]
        summary = {"scenario": "baseline", "short": a.short, "docs": docs, "shards": 4,
                   "replicas": 2, "max_rate": mx["achieved_rate"], "max_probe_latency_ms": mx["latency_ms"],
                   "closed_loop_max_rate": mx["achieved_rate"], "open_loop_max_rate": open_max,
                   "open_loop_max_steps": steps, "p99_bound_ms": a.p99_bound_ms,
                   "cpu_per_request": {"closed_loop_max_probe": mx["cpu_per_request"],
                                       "baseline": rep["cpu_per_request"]},
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
        for st in steps:
            print(f"open-loop max search: {st['rate']:.0f}/s ({100 * st['fraction']:.0f} % of the "
                  f"closed-loop max): achieved {st['achieved_rate']:.0f}/s, p99 {st['p99']:.2f} ms, "
                  f"{'sustained' if st['sustained'] else 'not sustained'}")
        for n_, r in (("max-probe", mx), ("baseline", rep)):
            cp = r["cpu_per_request"]
            print(f"{n_}: per request root {cp['root']['cpu_us']:.0f} us CPU, "
                  f"{cp['root']['switches']:.2f} switches; leaves {cp['leaves']['cpu_us']:.0f} us, "
                  f"{cp['leaves']['switches']:.2f} switches")
        print(f"results: {out}")
    finally:
        if not a.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
