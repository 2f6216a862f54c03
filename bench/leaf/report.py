#!/usr/bin/python3
"""Turns the JSON files of scripts/bench-leaf.sh (SGS_BENCH_JSON) into the
markdown tables of bench/RESULTS.md and, with --combine OUT, one JSON file
holding every corpus.

usage: report.py RUN-CORPUS.json... [--combine OUT.json]
"""
import json
import math
import sys

ENGINES = ("sgsearch", "xapian", "fts5")


def f(v):
    return "-" if v is None else ("%.0f" % v if v >= 100 else "%.1f" % v)


def lat(r):
    if not r:
        return "-"
    s = "%s / %s / %s" % (f(r["p50_us"]), f(r["p99_us"]), f(r["mean_us"]))
    if "cpu_us" in r:
        s += " (%s)" % f(r["cpu_us"])
    return s


def ratio(a, b):
    return "-" if not a or not b else "%.1fx" % (a / b)


def geo(v):
    return math.exp(sum(math.log(x) for x in v) / len(v)) if v else 0.0


def corpus_tables(d):
    by = {}
    classes = []
    for r in d["records"]:
        by[(r["engine"], r["mode"], r["class"])] = r
        if r["class"] not in classes and r["class"] != "all":
            classes.append(r["class"])
    out = []
    mdocs = d["n_docs"] / 1e6
    out.append("#### %s (%s docs)\n" % (d["corpus"], format(d["n_docs"], ",")))
    if "load_start" in d:
        out.append("Started %s; load average %s at the start, %s at the end.\n"
                   % (d["started"], " ".join(d["load_start"]), " ".join(d["load_end"])))
    ag = d["agreement"]
    out.append("Exact counts of all %d queries: FTS5 equal on %d, Xapian equal on %d "
               "(largest relative difference %.3f).\n" % (ag["queries"], ag["fts5"]["equal"],
                                                          ag["xapian"]["equal"],
                                                          ag["xapian"]["max_rel_diff"]))
    out.append("In process, one thread; latency p50 / p99 / mean µs wall (mean thread CPU µs, "
               "%s); q/s = 1e6 / wall mean.\n"
               % ("the CPU clock read once per pass over a class" if d.get("cpu_batch")
                  else "the CPU clock read around each query"))
    out.append("| mode | class | sgsearch | Xapian | FTS5 | sgsearch q/s | Xapian q/s | FTS5 q/s "
               "| q/s vs Xapian | p50 Xapian/sgs | CPU Xapian/sgs | q/s vs FTS5 |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for mode in ("top10", "count"):
        for c in classes:
            s, x, t = (by.get((e, mode, c)) for e in ENGINES)
            q = [r and r["qps"] for r in (s, x, t)]
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                mode, c, lat(s), lat(x), lat(t), f(q[0]), f(q[1]), f(q[2]),
                ratio(q[0], q[1]), ratio(x and x["p50_us"], s and s["p50_us"]),
                ratio(x and x.get("cpu_us"), s and s.get("cpu_us")), ratio(q[0], q[2])))
    out.append("")
    out.append("sgs-leaf over HTTP (JSON body and answer, wrk keep-alive): latency from one "
               "connection, p50 / p99 / mean µs; throughput with %d connections; ratios "
               "against Xapian in process, one thread.\n" % d["wrk_connections"])
    out.append("| mode | class | leaf, 1 conn | q/s 1 conn | q/s %d conns | q/s vs Xapian "
               "| p50 Xapian/leaf |" % d["wrk_connections"])
    out.append("|---|---|---|---|---|---|---|")
    for mode in ("top10", "count"):
        for c in classes:
            h, x = by.get(("sgs-leaf-http", mode, c)), by.get(("xapian", mode, c))
            if not h:
                continue
            out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                mode, c, lat(h), f(h["qps_1conn"]), f(h["qps"]), ratio(h["qps"], x and x["qps"]),
                ratio(x and x["p50_us"], h["p50_us"])))
    out.append("")
    goals = []
    for name, cls, goal in (("AND", ("and2", "and3"), 90), ("OR", ("or2", "or3"), 150)):
        rs = [by.get(("sgsearch", "top10", c)) for c in cls]
        if not all(rs):
            continue
        wall = sum(r["mean_us"] for r in rs) / len(rs) / mdocs
        cpu = (sum(r["cpu_us"] for r in rs) / len(rs) / mdocs) if all("cpu_us" in r for r in rs) \
            else None
        goals.append("TOP-10 %s (mean of %s): %s µs wall, %s µs CPU per million documents; "
                     "goal ≤ %d: %s." % (name, "/".join(cls), f(wall), f(cpu), goal,
                                         "met" if wall <= goal else
                                         "met by CPU time, **not** by the wall mean"
                                         if cpu is not None and cpu <= goal else "**not met**"))
    out.append("Per million documents: " + " ".join(goals) + "\n")
    summ = []
    for mode in ("top10", "count"):
        rows = [(by.get(("sgsearch", mode, c)), by.get(("xapian", mode, c)),
                 by.get(("sgs-leaf-http", mode, c))) for c in classes]
        rows = [r for r in rows if r[0] and r[1]]
        if not rows:
            continue
        q = [s["qps"] / x["qps"] for s, x, _ in rows]
        p = [x["p50_us"] / s["p50_us"] for s, x, _ in rows]
        cpu = [x["cpu_us"] / s["cpu_us"] for s, x, _ in rows if "cpu_us" in s and "cpu_us" in x]
        h = [hh["qps"] / x["qps"] for _, x, hh in rows if hh]
        hp = [x["p50_us"] / hh["p50_us"] for _, x, hh in rows if hh]
        summ.append("%s: in process, q/s %s x Xapian's (geometric mean over classes; lowest %.1fx, "
                    "%s), p50 %s x lower (lowest %.1fx), CPU per query %s x less; sgs-leaf over "
                    "HTTP %s x Xapian's in-process q/s (lowest %.1fx), p50 over HTTP %s x lower "
                    "than Xapian's in process." % (
                        mode.upper(), "%.1f" % geo(q), min(q), classes[q.index(min(q))],
                        "%.1f" % geo(p), min(p), "%.1f" % geo(cpu) if cpu else "-",
                        "%.1f" % geo(h) if h else "-", min(h) if h else 0,
                        "%.1f" % geo(hp) if hp else "-"))
    out.append("Against Xapian (goal: 10x throughput, 10x lower p50): " + " ".join(summ) + "\n")
    return "\n".join(out)


def main():
    args = sys.argv[1:]
    combine = None
    if "--combine" in args:
        i = args.index("--combine")
        combine = args[i + 1]
        del args[i:i + 2]
    runs = [json.load(open(p)) for p in args]
    for d in runs:
        print(corpus_tables(d))
    if combine:
        with open(combine, "w") as out:
            json.dump({"corpora": runs}, out, indent=1)


if __name__ == "__main__":
    main()
