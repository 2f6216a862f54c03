#!/usr/bin/python3
"""Failover: 4 shards x 2 replicas under steady open-loop load; a third of
the way in, `kill -9` one replica of every shard; two thirds in, restart
them on their old ports. Counts failed and partial answers (overall and
per second, from sgs-bench --raw), and measures each restarted replica's
time to return to rotation: from its restart until its leaf request counter
first moves (the root sends it traffic again).

usage: bench/scenarios/failover.py [--short] [--out DIR] [--rate R]"""
import argparse
import shutil
import subprocess
import sys
import threading
import time

import cluster as C


def main():
    ap = C.common_args(argparse.ArgumentParser(description=__doc__))
    ap.add_argument("--docs", type=int)
    ap.add_argument("--rate", type=float)
    ap.add_argument("--root-flag", action="append", default=[], help="extra sgs-root flag")
    a = ap.parse_args()
    miss = C.missing_programs()
    if miss:
        sys.exit(f"failover: not built: {' '.join(miss)}")
    out, scratch = C.workdir(a, "failover")
    docs = a.docs or (5000 if a.short else 200000)
    duration = 6 if a.short else 45
    rate = a.rate or (100 if a.short else 400)
    try:
        idx, queries = C.index_and_queries(a, scratch, docs, 4, 30 if a.short else 200)
        C.set_sched(a.rt, a.nice)
        with C.Cluster(idx, 4, 2, scratch, a.root_flag) as cl:
            victims = [cl.leaves[(s, 1)] for s in range(cl.shards)]
            events = {}
            rejoin = {}

            def chaos():
                t0 = time.monotonic()
                time.sleep(duration / 3)
                events["kill_s"] = time.monotonic() - t0
                for p in victims:
                    p.kill()
                time.sleep(duration / 3)
                events["restart_s"] = time.monotonic() - t0
                for p in victims:
                    p.start()  # same port: the root's topology names it
                t_restart = time.monotonic()
                for p in victims:
                    p.wait_ready()
                events["ready_s"] = time.monotonic() - t0
                pending = set(range(len(victims)))
                while pending and time.monotonic() - t0 < duration + 5:
                    for i in list(pending):
                        n = C.scrape(victims[i].url, "sgs_leaf_queries_total")
                        if n:
                            rejoin[victims[i].name] = time.monotonic() - t_restart
                            pending.discard(i)
                    time.sleep(0.05)
                for i in pending:
                    rejoin[victims[i].name] = None

            th = threading.Thread(target=chaos, daemon=True)
            # The bench's clock starts about now; the chaos thread's too.
            th.start()
            rep = C.bench(cl.root.url, queries, out, "failover", rate=rate, duration=duration,
                          warmup=0, raw=True, timeout_ms=2000)
            th.join(30)
        # Per-second failed and partial counts from the raw samples.
        per_s = {}
        with open(f"{out}/failover.raw") as f:
            for line in f:
                if line.startswith("#"):
                    continue
                t_ms, lat, svc, status, _cls = line.split()
                sec = int(float(t_ms) // 1000)
                row = per_s.setdefault(sec, [0, 0])
                row[0] += 1
                if not 200 <= int(status) < 300:
                    row[1] += 1
        L = rep["latency_ms"]
        summary = {"scenario": "failover", "short": a.short, "rate": rate, "duration_s": duration,
                   "events_s": events, "rejoin_after_restart_s": rejoin,
                   "requests": rep["requests"], "ok": rep["ok"], "errors": rep["errors"],
                   "errors_by_class": rep["errors_by_class"], "partial": rep["partial"],
                   "latency_ms": L, "per_second": {str(k): {"requests": v[0], "failed": v[1]}
                                                   for k, v in sorted(per_s.items())}}
        C.write_summary(out, summary)
        C.plot_percentiles(out, "failover", f"kill -9 one replica of every shard, {rate:.0f} req/s",
                           [("failover run", rep)])
        print(f"failover: {rep['requests']} requests at {rate:.0f}/s over {duration} s; "
              f"killed at {events.get('kill_s', 0):.1f} s, restarted at "
              f"{events.get('restart_s', 0):.1f} s")
        print(f"  failed {rep['errors']} ({C.pct(rep['errors'], rep['requests']):.2f} %)  "
              f"partial {rep['partial']} ({C.pct(rep['partial'], rep['ok']):.2f} %)  "
              f"p99 {L['p99']:.2f} ms  p99.9 {L['p999']:.2f} ms  max {L['max']:.2f} ms")
        print("  back in rotation after restart (s): " +
              ", ".join(f"{k} {v:.2f}" if v is not None else f"{k} never" for k, v in rejoin.items()))
        print(f"results: {out}")
    finally:
        if not a.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
