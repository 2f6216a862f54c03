#!/usr/bin/python3
"""Straggler: 4 shards x 2 replicas; one replica frozen with SIGSTOP for
200 ms of every 2 s (and, as a second variant, 20 ms of every 200 ms), once
with hedging on (the root's defaults) and once off (--hedge-budget 0), at
one open-loop rate. Prints the
Tail-at-Scale table: p50/p90/p99/p99.9 with and without hedging, and the
extra leaf requests in percent (leaf request counters against queries x
shards). The default rate is 300 req/s, well below what a healthy cluster
sustains on a shared 2-core machine, so the tail measured is the
straggler's, not queueing; `--rate probe` uses half the probed maximum.
Writes summary.json, each run's sgs-bench JSON, and one plot per variant.

usage: bench/scenarios/straggler.py [--short] [--out DIR] [--rate R]"""
import argparse
import shutil
import sys

import cluster as C

VARIANTS = [(200, 2000), (20, 200)]


def run(cl, queries, out, name, rate, duration, warmup, freeze=None):
    fr = None
    if freeze:
        fr = C.Freezer(cl.leaves[(0, 0)], *freeze)
        fr.start()
    try:
        before = cl.leaf_queries()
        rep = C.bench(cl.root.url, queries, out, name, rate=rate, duration=duration, warmup=warmup)
    finally:
        if fr:
            fr.stop()
    # Leaves frozen at the end may still owe answers: give them a moment.
    leaf_reqs = cl.leaf_queries() - before
    sent = rep["sent_total"] or 1
    rep["extra_leaf_pct"] = C.pct(leaf_reqs - sent * cl.shards, sent * cl.shards)
    rep["freezes"] = fr.stops if fr else 0
    return rep


def main():
    ap = C.common_args(argparse.ArgumentParser(description=__doc__))
    ap.add_argument("--docs", type=int)
    ap.add_argument("--rate", default="300", help="req/s, or 'probe' for half the probed max")
    ap.add_argument("--root-flag", action="append", default=[], help="extra sgs-root flag")
    a = ap.parse_args()
    miss = C.missing_programs()
    if miss:
        sys.exit(f"straggler: not built: {' '.join(miss)}")
    out, scratch = C.workdir(a, "straggler")
    docs = a.docs or (5000 if a.short else 200000)
    duration, warmup = (2.5, 0.5) if a.short else (20, 2)
    reps = {}
    try:
        idx = C.build_index(scratch, docs, 4)
        queries = C.make_queries(idx, f"{scratch}/queries.tsv", per_class=30 if a.short else 200)
        rate = None if a.rate == "probe" else float(a.rate)
        for hedge in ("on", "off"):
            flags = a.root_flag + ([] if hedge == "on" else ["--hedge-budget", "0"])
            with C.Cluster(idx, 4, 2, scratch, flags) as cl:
                if rate is None:
                    mx = C.bench(cl.root.url, queries, out, "max-probe", connections=16,
                                 duration=2 if a.short else 10, warmup=0.5 if a.short else 2)
                    rate = max(10.0, round(mx["achieved_rate"] / 2))
                reps[f"healthy-hedge-{hedge}"] = run(cl, queries, out, f"healthy-hedge-{hedge}",
                                                     rate, duration, warmup)
                for stop_ms, period_ms in VARIANTS:
                    name = f"stop{stop_ms}of{period_ms}-hedge-{hedge}"
                    reps[name] = run(cl, queries, out, name, rate, duration, warmup,
                                     (stop_ms, period_ms))
        base_p99 = reps["healthy-hedge-on"]["latency_ms"]["p99"]
        rows, goals = [], {}
        for name, r in reps.items():
            L = r["latency_ms"]
            rows.append([name, *(f"{L[k]:.2f}" for k in ("p50", "p90", "p99", "p999")),
                         f"{r['extra_leaf_pct']:.2f}", f"{100 * r['hedge_rate']:.2f}",
                         r["errors"], r["partial"]])
        for stop_ms, period_ms in VARIANTS:
            on = reps[f"stop{stop_ms}of{period_ms}-hedge-on"]
            off = reps[f"stop{stop_ms}of{period_ms}-hedge-off"]
            p99_ratio = on["latency_ms"]["p99"] / base_p99 if base_p99 else None
            p999_gain = (off["latency_ms"]["p999"] / on["latency_ms"]["p999"]
                         if on["latency_ms"]["p999"] else None)
            goals[f"{stop_ms}/{period_ms}"] = {
                "p99_vs_healthy": p99_ratio, "p99_goal_met": p99_ratio is not None and p99_ratio <= 1.5,
                "p999_gain": p999_gain, "p999_goal_met": p999_gain is not None and p999_gain >= 10,
                "extra_leaf_pct": on["extra_leaf_pct"],
                "extra_goal_met": on["extra_leaf_pct"] <= 5.0}
            C.plot_percentiles(out, f"straggler-{stop_ms}of{period_ms}",
                               f"one replica stopped {stop_ms} ms every {period_ms} ms, {rate:.0f} req/s",
                               [("healthy, hedging on", reps["healthy-hedge-on"]),
                                ("hedging on", on), ("hedging off", off)])
        header = ["run", "p50", "p90", "p99", "p99.9", "extra leaf %", "hedged %", "errors",
                  "partial"]
        print(f"Tail at Scale: 4x2, one replica frozen, {rate:.0f} req/s open loop, "
              f"{duration} s each (ms)")
        print(C.table(header, rows))
        for v, g in goals.items():
            print(f"goals {v}: p99 {g['p99_vs_healthy']:.2f}x healthy (<= 1.5: "
                  f"{'met' if g['p99_goal_met'] else 'NOT met'}), p99.9 "
                  f"{g['p999_gain']:.1f}x better than unhedged (>= 10: "
                  f"{'met' if g['p999_goal_met'] else 'NOT met'}), extra leaf requests "
                  f"{g['extra_leaf_pct']:.2f} % (<= 5: {'met' if g['extra_goal_met'] else 'NOT met'})")
        C.write_summary(out, {"scenario": "straggler", "short": a.short, "docs": docs,
                              "rate": rate, "duration_s": duration, "header": header,
                              "rows": rows, "goals": goals,
                              "runs": {k: {"latency_ms": r["latency_ms"],
                                           "extra_leaf_pct": r["extra_leaf_pct"],
                                           "hedge_rate": r["hedge_rate"], "errors": r["errors"],
                                           "partial": r["partial"], "freezes": r["freezes"],
                                           "generator_saturated": r["generator"]["saturated"]}
                                       for k, r in reps.items()}})
        print(f"results: {out}")
    finally:
        if not a.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
