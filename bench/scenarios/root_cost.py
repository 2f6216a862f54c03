#!/usr/bin/python3
"""The root's own cost, in four measurements made in one run on real
sgs-leaf and sgs-root processes on loopback:

  client    CPU per sub-request of the root's leaf client (bench_http_client)
            and of libcurl's multi interface (curl_http_client, when built:
            scripts/bench-root.sh builds it if libcurl is installed), each
            against the trivial in-process server and against a real leaf;
            and the kernel's floor under both (bench_tcp_floor: a blocking
            send and recv per request on one connection, no event loop).
  cpu       the whole root's CPU per leaf sub-request: the sgs-root
            process's CPU time (utime + stime of /proc/PID/stat) over the
            same closed-loop load (sgs-bench) sent to a root of S shards and
            to a root of 1 shard (shard 0 of the same leaves):
            (cpu_S / q_S - cpu_1 / q_1) / (S - 1), q = queries answered.
  overhead  p50 over queries of (latency at the client - the slowest shard's
            leaf-reported service time, details[].leaf_took_ms), one request
            at a time, against the p50 latency of the same client
            (bench_root_latency) to nginx returning the root's answer bytes;
            beside it the machine's own part (bench_wake, back to back): a
            bare round trip to one echo process and a bare fan-out to as
            many echo processes as shards, no HTTP and no work.
  fanout    requests/s of a trivial query (k=0, tiny index) fanned out to 2
            leaves through the root against nginx returning the same bytes,
            the same wrk command, rounds alternating.

Corpus: GCIDE (data/gcide.jsonl) in 4 shards, 1 replica each (cached in
data/bench/root-gcide-4/); --short uses a small synthetic corpus and
seconds-long runs (output shape only). Writes summary.json to --out
(default bench/results/root_cost/) and prints a table.

usage: bench/scenarios/root_cost.py [--short] [--out DIR] [--phases client,cpu,overhead,fanout]"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import cluster as C

BENCH_DIR = os.path.join(C.BUILD, "bench")
HTTP_CLIENT = os.path.join(BENCH_DIR, "bench_http_client")
CURL_CLIENT = os.path.join(BENCH_DIR, "curl_http_client")
TCP_FLOOR = os.path.join(BENCH_DIR, "bench_tcp_floor")
LATENCY = os.path.join(BENCH_DIR, "bench_root_latency")
DATA = os.environ.get("SGS_DATA", os.path.join(C.ROOT, "data"))


# --rt or --nice (cluster.sched_args) shields only the overhead and fanout phases, the
# latency-bound ones: their servers (cluster.SCHED via shielded()), the
# already running leaves (set_rt) and the commands run here (RT) go under
# SCHED_FIFO or the nice level; the client and cpu phases measure CPU time
# and run as is.
RT = []


class shielded:
    def __init__(self, a, leaves=()):
        self.rt, self.nice, self.leaves = a.rt, a.nice, leaves

    def __enter__(self):
        if self.rt or self.nice:
            set_rt(self.leaves, self.rt, self.nice)
            RT[:] = ["chrt", "-f", str(self.rt)] if self.rt else ["nice", "-n", str(self.nice)]
            C.set_sched(rt=self.rt, nice=self.nice)

    def __exit__(self, *exc):
        RT[:] = []
        if self.rt or self.nice:
            C.set_sched()
            set_rt(self.leaves)


def set_rt(procs, prio=0, nice=0):
    """Moves running processes (every thread) to SCHED_FIFO prio, or to
    SCHED_OTHER at nice level nice (both 0: back to normal)."""
    for p in procs:
        if prio:
            subprocess.run(["chrt", "-a", "-f", "-p", str(prio), str(p.popen.pid)], check=True,
                           stdout=subprocess.DEVNULL)
            continue
        subprocess.run(["chrt", "-a", "-o", "-p", "0", str(p.popen.pid)], check=True,
                       stdout=subprocess.DEVNULL)
        for tid in os.listdir(f"/proc/{p.popen.pid}/task"):
            os.setpriority(os.PRIO_PROCESS, int(tid), nice)


def proc_cpu_s(pid):
    """User + system CPU seconds of a process (all its threads, live or gone)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_json(argv, timeout=600):
    p = subprocess.run(RT + argv, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def gcide_index():
    out = os.path.join(DATA, "bench", "root-gcide-4")
    src = os.path.join(DATA, "gcide.jsonl")
    if C.index_is_readable(out):
        return out
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(out + ".part", ignore_errors=True)  # left by an interrupted build
    if not os.path.exists(src):
        sys.exit(f"root_cost: {src} missing (scripts/bench-leaf.sh makes it)")
    os.makedirs(os.path.dirname(out), exist_ok=True)  # data/bench/ on a new machine
    C.log(f"building {out}")
    subprocess.run([C.SGS_INDEX, "build", "--input", src, "--shards", "4", "--out", out + ".part",
                    "--quiet", "--threads", "2"], check=True)
    os.rename(out + ".part", out)
    return out


def tiny_index(workdir, shards):
    docs = os.path.join(workdir, "tiny.jsonl")
    with open(docs, "w") as f:
        for i in range(100):
            f.write(json.dumps({"id": "d%03d" % i, "title": "hello world %d" % i,
                                "body": "trivial"}) + "\n")
    out = os.path.join(workdir, f"tiny-{shards}")
    subprocess.run([C.SGS_INDEX, "build", "--input", docs, "--shards", str(shards), "--out", out,
                    "--quiet"], check=True)
    return out


class Nginx:
    """One nginx worker answering `body` with 200 on every path (the setup of
    scripts/bench-leaf-http.sh)."""

    def __init__(self, workdir, body, content_type="application/json"):
        self.dir = os.path.join(workdir, "nginx")
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        esc = body.replace("\\", "\\\\").replace('"', '\\"')
        d = self.dir
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(f"""worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            default_type {content_type};
            return 200 "{esc}";
        }}
    }}
}}
""")
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        self.popen = subprocess.Popen(RT + [exe, "-p", d, "-c", os.path.join(d, "nginx.conf"), "-g",
                                       "daemon off;"], stderr=subprocess.DEVNULL)
        for _ in range(100):
            if C.http_get(self.url, 0.5)[0] == 200:
                break
            time.sleep(0.05)
        else:
            self.close()
            raise RuntimeError("nginx did not start")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/"

    def close(self):
        if self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait()


def start_root(name, leaves, shards, workdir, extra=(), binary=None):
    argv = [binary or C.SGS_ROOT, "--log-level", "warn"]
    for s in shards:
        argv += ["--shard", f"{s}={leaves[s].url}"]
    return C.Proc(name, argv + list(extra), workdir).start()


def phase_client(a, leaf):
    n_triv, n_leaf = (2000, 1000) if a.short else (200000, 50000)
    rows = []
    for target, n, extra in (("trivial", n_triv, []), ("sgs-leaf", n_leaf, [str(leaf.port), "apple"])):
        for conns in (8, 1):
            # The floor (blocking send + recv, no event loop) has one connection.
            for prog in (HTTP_CLIENT, CURL_CLIENT) + ((TCP_FLOOR,) if conns == 1 else ()):
                if not os.access(prog, os.X_OK):
                    continue
                r = run_json([prog, str(n), str(conns)] + extra)
                r["client"] = r.get("client", "sgs http_client")
                rows.append(r)
                C.log(f"client {r['client']} -> {target} c={conns}: "
                      f"{r['client_cpu_us_per_request']:.2f} us CPU/request")
    return {"runs": rows, "libcurl_built": os.access(CURL_CLIENT, os.X_OK)}


def load(url, queries, outdir, name, seconds, conns, rate):
    """sgs-bench: closed loop over conns connections, or open loop at rate."""
    js = os.path.join(outdir, f"{name}.json")
    mode = ["--rate", str(rate), "--max-connections", "64"] if rate else ["--connections", str(conns)]
    subprocess.run([C.SGS_BENCH, "--url", url, "--queries", queries, *mode,
                    "--duration", str(seconds), "--warmup", "0.3", "--json", js, "--quiet"],
                   check=True, timeout=seconds + 60)
    with open(js) as f:
        return json.load(f)


def phase_cpu(a, leaves, queries, scratch, out):
    """Root CPU per query on 1 and on S shards, for each root binary, the
    binaries' runs interleaved round by round."""
    n_shards = len(leaves)
    binaries = {"current": C.SGS_ROOT}
    if a.baseline_root:
        binaries["baseline"] = a.baseline_root
    roots = {}
    try:
        for b, path in binaries.items():
            roots[(b, 1)] = start_root(f"root-{b}-1", leaves, [0], scratch, binary=path)
            roots[(b, n_shards)] = start_root(f"root-{b}-{n_shards}", leaves, range(n_shards),
                                              scratch, binary=path)
        for r in roots.values():
            r.wait_ready()
        seconds = 1 if a.short else a.seconds
        res = {}
        for mode, rate in (("closed", 0), ("open", a.cpu_rate)):
            if mode == "open" and not rate:
                continue
            acc = {k: {"cpu_s": 0.0, "queries": 0} for k in roots}
            for rnd in range(a.rounds):
                for k, r in roots.items():
                    c0 = proc_cpu_s(r.popen.pid)
                    rep = load(r.url, queries, scratch, f"cpu-{k[0]}-{k[1]}-{rnd}", seconds,
                               a.connections, rate)
                    c1 = proc_cpu_s(r.popen.pid)
                    ok = rep["requests"] - rep["errors"]
                    acc[k]["cpu_s"] += c1 - c0
                    acc[k]["queries"] += ok
                    C.log(f"cpu {mode} {k[0]}: {k[1]} shard(s) round {rnd}: {ok} queries, "
                          f"{(c1 - c0) * 1e6 / max(ok, 1):.1f} us root CPU/query, "
                          f"{rep['achieved_rate']:.0f} q/s")
            for b in binaries:
                per_q = {s: acc[(b, s)]["cpu_s"] * 1e6 / max(acc[(b, s)]["queries"], 1)
                         for s in (1, n_shards)}
                per_sub = (per_q[n_shards] - per_q[1]) / (n_shards - 1)
                res.setdefault(b, {})[mode] = {
                    "load": f"open loop {rate}/s" if rate else f"closed loop {a.connections} connections",
                    "root_cpu_us_per_query": {str(s): round(v, 2) for s, v in per_q.items()},
                    "queries": {str(s): acc[(b, s)]["queries"] for s in (1, n_shards)},
                    "root_cpu_us_per_sub_request": round(per_sub, 2),
                    "root_cpu_us_per_query_per_shard": round(per_q[n_shards] / n_shards, 2)}
        cur = res["current"]["closed"]
        return {"shards": n_shards, "connections": a.connections, "seconds_per_run": seconds,
                "rounds": a.rounds, "binaries": binaries, "variants": res,
                "root_cpu_us_per_query": cur["root_cpu_us_per_query"], "queries": cur["queries"],
                "root_cpu_us_per_sub_request": cur["root_cpu_us_per_sub_request"],
                "goal_us": 10, "goal_met": cur["root_cpu_us_per_sub_request"] <= 10}
    finally:
        for r in roots.values():
            r.kill()


def phase_overhead(a, leaves, queries, scratch):
    """The current root's overhead (and the baseline root's, when given, in
    the same rounds: nginx, then each root)."""
    n_shards = len(leaves)
    binaries = {"current": C.SGS_ROOT}
    if a.baseline_root:
        binaries["baseline"] = a.baseline_root
    roots = {}
    nginx = None
    try:
        for b, path in binaries.items():
            roots[b] = start_root(f"root-overhead-{b}", leaves, range(n_shards), scratch,
                                  binary=path)
        for r in roots.values():
            r.wait_ready()
        root = roots["current"]
        # nginx answers the root's answer to one query (same size class).
        with open(queries) as f:
            q0 = f.readline().rstrip("\n").split("\t")[-1]
        import urllib.parse
        st, body = C.http_get(root.url + "/search?q=" + urllib.parse.quote(q0) + "&k=10")
        if st != 200:
            raise RuntimeError(f"root answered {st}: {body[:300]}")
        nginx = Nginx(scratch, body)
        passes = "1" if a.short else str(a.passes)
        runs = {"nginx": [], **{b: [] for b in binaries}, "bare_1": [], "bare_fanout": []}
        wake_s = "0.3" if a.short else "2"
        for _ in range(a.rounds):
            runs["nginx"].append(run_json([LATENCY, "127.0.0.1", str(nginx.port), "/", queries, passes]))
            # The machine's part: the same fan-out, one exchange at a time, to
            # bare echo processes (no HTTP, no work), and one bare round trip.
            runs["bare_1"].append(run_json([C.BENCH_WAKE, "0", wake_s, "1"]))
            runs["bare_fanout"].append(run_json([C.BENCH_WAKE, "0", wake_s, str(n_shards)]))
            for b, r in roots.items():
                runs[b].append(run_json([LATENCY, "127.0.0.1", str(r.port), "/search", queries,
                                         passes]))
                C.log(f"overhead {b}: root p50 {runs[b][-1]['latency_us']['p50']:.1f} us, overhead "
                      f"p50 {runs[b][-1]['overhead_us']['p50']:.1f} us; nginx RTT p50 "
                      f"{runs['nginx'][-1]['latency_us']['p50']:.1f} us")
        med = lambda xs: sorted(xs)[len(xs) // 2]
        rtt = med([r["latency_us"]["p50"] for r in runs["nginx"]])
        bare_1 = med([r["service_us"]["p50"] for r in runs["bare_1"]])
        bare_fanout = med([r["service_us"]["p50"] for r in runs["bare_fanout"]])
        C.log(f"machine floor: bare round trip p50 {bare_1:.1f} us, bare {n_shards}-way fan-out "
              f"p50 {bare_fanout:.1f} us")

        def summarize(rs):
            ov = med([r["overhead_us"]["p50"] for r in rs])
            return {"overhead_us_p50": ov, "ratio": round(ov / rtt, 2) if rtt else None,
                    "root_latency_us_p50": med([r["latency_us"]["p50"] for r in rs]),
                    "slowest_leaf_us_p50": med([r["slowest_leaf_us_p50"] for r in rs]),
                    "root_internal_overhead_us_p50": med([r["root_internal_overhead_us_p50"] for r in rs]),
                    "root_own_us_p50": med([r["root_own_us_p50"] for r in rs]),
                    "leaf_round_trip_minus_service_us_p50":
                        med([r["leaf_round_trip_minus_service_us_p50"] for r in rs]),
                    "goal_met": bool(rtt) and ov <= 2 * rtt}
        variants = {b: summarize(runs[b]) for b in binaries}
        cur = variants["current"]
        runs["root"] = runs.pop("current")
        return {"shards": n_shards, "replicas": 1, "passes": int(passes), "rounds": a.rounds,
                "loopback_rtt_us_p50": rtt, "bare_round_trip_us_p50": bare_1,
                "bare_fanout_us_p50": bare_fanout,
                "bare_fanout_beyond_round_trip_us_p50": round(bare_fanout - bare_1, 1), **cur,
                "binaries": binaries, "variants": variants, "goal_ratio": 2, "runs": runs}
    finally:
        if nginx:
            nginx.close()
        for r in roots.values():
            r.kill()


def wrk(url, seconds, conns):
    p = subprocess.run(RT + ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", url], capture_output=True,
                       text=True, timeout=seconds + 60, check=True)
    rps = next(float(l.split()[1]) for l in p.stdout.splitlines() if l.startswith("Requests/sec"))
    errs = " ".join(l.strip() for l in p.stdout.splitlines() if "Non-2xx" in l or "Socket errors" in l)
    return rps, errs


def phase_fanout(a, scratch):
    """wrk against nginx, the current root (and the baseline root, when
    given), in alternating rounds."""
    idx = tiny_index(scratch, 2)
    leaves = [C.Proc(f"tiny-leaf-{s}", [C.SGS_LEAF, "--index", idx, "--shard", str(s), "--threads", "1",
                                         "--log-level", "warn"], scratch).start() for s in range(2)]
    binaries = {"current": C.SGS_ROOT}
    if a.baseline_root:
        binaries["baseline"] = a.baseline_root
    roots = {}
    nginx = None
    try:
        for l in leaves:
            l.wait_ready()
        for b, path in binaries.items():
            roots[b] = start_root(f"root-fanout-{b}", leaves, range(2), scratch, binary=path)
        for r in roots.values():
            r.wait_ready()
        path = "/search?q=hello&k=0"
        st, body = C.http_get(roots["current"].url + path)
        if st != 200:
            raise RuntimeError(f"root answered {st}: {body[:300]}")
        nginx = Nginx(scratch, body)
        seconds = 1 if a.short else a.wrk_seconds
        res = {"nginx": [], **{b: [] for b in binaries}}
        targets = [("nginx", f"http://127.0.0.1:{nginx.port}")] + [(b, r.url) for b, r in roots.items()]
        for _ in range(a.rounds):
            for name, base in targets:
                rps, errs = wrk(base + path, seconds, a.wrk_connections)
                res[name].append(rps)
                C.log(f"fanout: {name} {rps:.0f} req/s {errs}")
        med = lambda xs: sorted(xs)[len(xs) // 2]
        n_med = med(res["nginx"])
        variants = {b: {"median_rps": med(res[b]), "rps": res[b],
                        "ratio": round(med(res[b]) / n_med, 3) if n_med else 0}
                    for b in binaries}
        ratio = variants["current"]["ratio"]
        return {"leaves": 2, "cmd": f"wrk -t1 -c{a.wrk_connections} -d{seconds}s URL{path}",
                "rounds": a.rounds, "root_rps": res["current"], "nginx_rps": res["nginx"],
                "root_median_rps": med(res["current"]), "nginx_median_rps": n_med,
                "binaries": binaries, "variants": variants,
                "ratio": ratio, "goal_ratio": 0.25, "goal_met": ratio >= 0.25}
    finally:
        for p in [nginx] + list(roots.values()) + leaves:
            if p:
                (p.close if isinstance(p, Nginx) else p.kill)()


def main():
    ap = C.common_args(argparse.ArgumentParser(description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter))
    ap.add_argument("--phases", default="client,cpu,overhead,fanout")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5, help="closed-loop seconds per cpu run")
    ap.add_argument("--connections", type=int, default=8, help="closed-loop connections (cpu)")
    ap.add_argument("--cpu-rate", type=float, default=0,
                    help="also measure cpu in open loop at this rate (queries/s)")
    ap.add_argument("--baseline-root",
                    help="another sgs-root binary measured alongside (cpu, overhead, fanout)")
    ap.add_argument("--passes", type=int, default=3, help="passes over the queries (overhead)")
    ap.add_argument("--wrk-seconds", type=int, default=5)
    ap.add_argument("--wrk-connections", type=int, default=32)
    a = ap.parse_args()
    C.set_sched()  # see shielded
    if a.short:
        a.rounds = 1
    phases = a.phases.split(",")
    miss = C.missing_programs() + [p for p in (HTTP_CLIENT, LATENCY) if not os.access(p, os.X_OK)]
    if miss:
        sys.exit(f"root_cost: not built: {' '.join(miss)}")
    if "fanout" in phases and not (shutil.which("wrk") and (shutil.which("nginx") or
                                                            os.path.exists("/usr/sbin/nginx"))):
        sys.exit("root_cost: wrk and nginx needed (scripts/deps.sh bench)")
    out, scratch = C.workdir(a, "root_cost")
    summary = {"scenario": "root_cost", "short": a.short, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "cores": os.cpu_count(), "loadavg_start": os.getloadavg()[0],
               "shield_overhead_fanout": (f"SCHED_FIFO {a.rt}" if a.rt else
                                          f"nice {a.nice}" if a.nice else None)}
    leaves = []
    try:
        if set(phases) & {"client", "cpu", "overhead"}:
            idx = C.build_index(scratch, 3000, 4) if a.short else gcide_index()
            summary["corpus"] = "synthetic 3000 docs" if a.short else "gcide"
            queries = C.make_queries(idx, os.path.join(scratch, "queries.tsv"),
                                     per_class=5 if a.short else 30)
            leaves = [C.Proc(f"leaf-{s}", [C.SGS_LEAF, "--index", idx, "--shard", str(s), "--threads",
                                           "1", "--log-level", "warn"], scratch).start() for s in range(4)]
            for l in leaves:
                l.wait_ready()
            if "client" in phases:
                summary["client"] = phase_client(a, leaves[0])
            if "cpu" in phases:
                summary["cpu"] = phase_cpu(a, leaves, queries, scratch, out)
            if "overhead" in phases:
                with shielded(a, leaves):
                    summary["overhead"] = phase_overhead(a, leaves, queries, scratch)
            for l in leaves:
                l.kill()
            leaves = []
        if "fanout" in phases:
            with shielded(a):
                summary["fanout"] = phase_fanout(a, scratch)
        summary["loadavg_end"] = os.getloadavg()[0]
        C.write_summary(out, summary)
        rows = []
        for r in summary.get("client", {}).get("runs", []):
            rows.append([f"client {r['client']} -> {r['target']} c={r['connections']}",
                         f"{r['client_cpu_us_per_request']:.2f} us CPU/request", ""])
        if "cpu" in summary:
            c = summary["cpu"]
            for b, modes in c["variants"].items():
                for m in modes.values():
                    rows.append([f"root CPU per sub-request ({b}, {m['load']})",
                                 f"{m['root_cpu_us_per_sub_request']:.2f} us", ""])
            rows.append(["root CPU per sub-request", f"{c['root_cpu_us_per_sub_request']:.2f} us",
                         "goal <= 10 us: " + ("met" if c["goal_met"] else "NOT met")])
        if "overhead" in summary:
            o = summary["overhead"]
            if "baseline" in o["variants"]:
                v = o["variants"]["baseline"]
                rows.append(["root overhead p50 / loopback RTT p50 (baseline)",
                             f"{v['overhead_us_p50']:.1f} / {o['loopback_rtt_us_p50']:.1f} us = {v['ratio']}x", ""])
            rows.append(["root overhead p50 / loopback RTT p50",
                         f"{o['overhead_us_p50']:.1f} / {o['loopback_rtt_us_p50']:.1f} us = {o['ratio']}x",
                         "goal <= 2x: " + ("met" if o["goal_met"] else "NOT met")])
            rows.append([f"machine: bare {o['shards']}-way fan-out p50 - bare round trip p50",
                         f"{o['bare_fanout_us_p50']:.1f} - {o['bare_round_trip_us_p50']:.1f} us = "
                         f"{o['bare_fanout_beyond_round_trip_us_p50']:.1f} us", ""])
        if "fanout" in summary:
            f = summary["fanout"]
            if "baseline" in f["variants"]:
                v = f["variants"]["baseline"]
                rows.append(["fan-out to 2 leaves vs nginx (baseline)",
                             f"{v['median_rps']:.0f} / {f['nginx_median_rps']:.0f} req/s = {v['ratio']}x", ""])
            rows.append(["fan-out to 2 leaves vs nginx",
                         f"{f['root_median_rps']:.0f} / {f['nginx_median_rps']:.0f} req/s = {f['ratio']}x",
                         "goal >= 0.25x: " + ("met" if f["goal_met"] else "NOT met")])
        print(C.table(["measure", "value", "goal"], rows))
        print(f"results: {out}")
    finally:
        for l in leaves:
            l.kill()
        if not a.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
