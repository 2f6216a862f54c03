#!/usr/bin/python3
"""Peers, end to end: 4 shards x 2 replicas on loopback, the same corpus
and queries, side by side in one run, closed loop at equal concurrency:

  sgsearch  sgs-root in front of 8 sgs-leaf, driven by sgs-bench --connections C
  sphinx    Sphinx 2.2: 8 agent searchd (one per shard replica, each serving
            its shard's plain index) behind a front searchd whose
            `type = distributed` index lists each shard's two agents as
            mirrors; driven over SphinxQL by bench/peers/sphinx_e2e
  xapian    8 xapian-tcpsrv (one per shard replica); each client connection
            opens a combined Database of the 4 remote shards
            (Xapian::Remote::open), spreading connections over the replicas
            itself (Xapian has no mirrors); driven by bench/peers/xapian_e2e

Queries: every class of bench/leaf/make_queries.py (and2 and3 or2 or3 not2
not3 term), TOP-10, BM25 (k1 = 1.2, b = 0.75), copied to queries.tsv beside
the results. Documents are split into the same shards as sgs-index's
(jump hash of XXH3 of the id). Exact match counts of
every query are compared across the engines first. Runs are interleaved:
for each concurrency, each round runs every engine once, in a rotating
order; the reported figure of an engine is the median over the rounds.
Then an open-loop phase: every engine at the same rate (--rate, default
half of the slowest engine's closed-loop maximum at the highest
concurrency) over at most that many connections, latency from each
request's intended send time (sgs-bench --rate; the drivers' --rate).

A peer that is not installed is skipped with a message. Indexes are cached
under data/bench/peers-e2e/ (rebuilt when the corpus changes); --short
builds a small synthetic corpus in a scratch folder and runs for seconds.
Writes summary.json, every run's JSON and peers.png (throughput and p99
against concurrency) plus peers-c<C>.png (latency spectrum at the highest
concurrency) and peers-open.png (the open-loop spectrum) into
bench/results/peers[-short]/.

usage: bench/scenarios/peers.py [--short] [--out DIR] [--corpus JSONL]
         [--connections 1,4,16] [--duration S] [--rounds N] [--rate R]
         [--peers sgsearch,sphinx,xapian]

To shield the measured processes from other load, start it as
`nice -n -10 bench/scenarios/peers.py` (as root): every server and client
inherits the niceness, which summary.json records."""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

import cluster as C

sys.path.insert(0, os.path.join(C.ROOT, "bench", "peers"))
sys.path.insert(0, os.path.join(C.ROOT, "tests", "lib"))
import peerlib  # noqa: E402

PEERS_SRC = os.path.join(C.ROOT, "bench", "peers")
PEERS_BIN = os.path.join(C.BUILD, "bench", "peers")
SHARDS, REPLICAS = 4, 2
ENGINES = ("sgsearch", "sphinx", "xapian")
CFLAGS = ["-O2", "-Wall", "-Wextra", "-Werror", "-I", C.ROOT]


def pkg_flags(*names):
    """pkg-config --cflags --libs of the first name that pkg-config knows, or None."""
    if not shutil.which("pkg-config"):
        return None
    for n in names:
        p = subprocess.run(["pkg-config", "--cflags", "--libs", n], capture_output=True, text=True)
        if p.returncode == 0:
            return p.stdout.split()
    return None


def newer(target, *sources):
    return os.path.exists(target) and all(os.path.getmtime(target) >= os.path.getmtime(s)
                                          for s in sources)


def compile_to(target, argv):
    """Runs a compiler writing target's temporary twin, then renames it:
    concurrent runs never see a half-written object or program."""
    tmp = f"{target}.{os.getpid()}.tmp"
    subprocess.run(argv + ["-o", tmp], check=True)
    os.replace(tmp, target)


def build_drivers():
    """Compiles the peer drivers into build/<v>/bench/peers/; returns
    {engine: path or a reason it is missing}. They are built from their
    sources and common/hist.c, mem.c alone (never sanitized, whatever
    build libsgs.a is)."""
    os.makedirs(PEERS_BIN, exist_ok=True)
    objs = []
    for src in (os.path.join(PEERS_SRC, "closedloop.c"), os.path.join(C.ROOT, "common", "hist.c"),
                os.path.join(C.ROOT, "common", "mem.c")):
        o = os.path.join(PEERS_BIN, os.path.basename(src)[:-2] + ".o")
        deps = [src, os.path.join(PEERS_SRC, "closedloop.h"), os.path.join(C.ROOT, "common", "hist.h"),
                os.path.join(C.ROOT, "common", "mem.h")]
        if not newer(o, *deps):
            compile_to(o, ["cc", "-std=c11", "-D_GNU_SOURCE", *CFLAGS, "-c", src])
        objs.append(o)
    out = {}
    specs = {
        "sphinx": ("cc", "sphinx_e2e.c", ("libmariadb", "mariadb", "mysqlclient"),
                   "searchd", "sphinxsearch (searchd, indexer) and libmariadb-dev"),
        "xapian": ("g++", "xapian_e2e.cc", ("xapian-core",), "xapian-tcpsrv",
                   "xapian-tools (xapian-tcpsrv), xapian-omega (scriptindex) and libxapian-dev"),
    }
    for eng, (cc, src, pkgs, server, debs) in specs.items():
        if not shutil.which(server) or (eng == "sphinx" and not shutil.which("indexer")) or \
                (eng == "xapian" and not shutil.which("scriptindex")):
            out[eng] = f"not installed: needs Debian {debs} (scripts/deps.sh bench)"
            continue
        flags = pkg_flags(*pkgs)
        if flags is None or not shutil.which(cc):
            out[eng] = f"cannot build its driver: needs {cc} and {debs} (scripts/deps.sh bench)"
            continue
        exe = os.path.join(PEERS_BIN, src.split(".")[0])
        srcp = os.path.join(PEERS_SRC, src)
        if not newer(exe, srcp, *objs):
            std = ["-std=c11"] if cc == "cc" else []
            compile_to(exe, [cc, *std, *CFLAGS, srcp, *objs, *flags, "-lpthread", "-lm"])
        out[eng] = exe
    return out


# ---------------------------------------------------------------- indexes

def corpus_key(path, limit):
    st = os.stat(path)
    return {"corpus": os.path.abspath(path), "size": st.st_size, "mtime": int(st.st_mtime),
            "limit": limit, "shards": SHARDS, "format": 3}


def split_corpus(corpus, outdir, limit):
    """Writes outdir/shard<i>.jsonl with the documents sgs-index puts in shard i."""
    import sgs  # tests/lib: XXH3 + jump hash, as sgs-index shards
    os.makedirs(outdir, exist_ok=True)
    outs = [open(os.path.join(outdir, f"shard{i}.jsonl.part"), "w") for i in range(SHARDS)]
    n = 0
    with open(corpus) as f:
        for line in f:
            if not line.strip():
                continue
            if limit and n >= limit:
                break
            doc_id = json.loads(line)["id"]
            outs[sgs.shard_of(str(doc_id), SHARDS)].write(line if line.endswith("\n") else line + "\n")
            n += 1
    for i, o in enumerate(outs):
        o.close()
        os.replace(o.name, os.path.join(outdir, f"shard{i}.jsonl"))
    return n


def write_tsv(src, dst, shard, n_shards):
    """Sphinx tsvpipe rows (numeric id, ext_id, title, body) of one shard.
    Ids must be unique across the shards: the distributed index merges
    matches by id, so a collision would drop a match."""
    t = peerlib._TSV_TABLE
    with open(dst, "w") as out:
        for n, (doc_id, title, body) in enumerate(peerlib._iter_docs(src)):
            out.write("%d\t%s\t%s\t%s\n" % (n * n_shards + shard + 1, doc_id.translate(t),
                                              title.translate(t), body.translate(t)))


def build_sphinx(split, work, n_shards):
    """Builds one plain index per shard (one indexer run) and a copy per
    extra replica (a searchd locks the index it serves)."""
    os.makedirs(work, exist_ok=True)
    indexes = []
    for i in range(n_shards):
        tsv = os.path.join(work, f"shard{i}.tsv")
        write_tsv(os.path.join(split, f"shard{i}.jsonl"), tsv, i, n_shards)
        d = os.path.join(work, f"shard{i}-r0")
        os.makedirs(d, exist_ok=True)
        indexes.append((f"shard{i}", tsv, os.path.join(d, "idx")))
    path = os.path.join(work, "indexer.conf")
    with open(path, "w") as f:
        f.write(peerlib.sphinx_conf(indexes, "256M", "Generated by bench/scenarios/peers.py."))
    with open(os.path.join(work, "indexer.log"), "w") as lf:
        subprocess.run(["indexer", "--config", path, "--all", "--noprogress"], check=True,
                       stdout=lf, stderr=subprocess.STDOUT)
    for i in range(n_shards):
        os.unlink(os.path.join(work, f"shard{i}.tsv"))
        for r in range(1, REPLICAS):
            dst = os.path.join(work, f"shard{i}-r{r}")
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(os.path.join(work, f"shard{i}-r0"), dst)


XAPIAN_SCRIPT = """# Generated by bench/scenarios/peers.py, as bench/peers/xapian_index.sh.
id : field=id hash boolean=Q unique=Q
title : field=title indexnopos
body : indexnopos
"""


def build_xapian(split, work, n_shards):
    """One glass database per shard, with scriptindex and the index script of
    bench/peers/xapian_index.sh (no stemming, no positions, id unique)."""
    os.makedirs(work, exist_ok=True)
    script = os.path.join(work, "index.script")
    with open(script, "w") as f:
        f.write(XAPIAN_SCRIPT)
    procs = []
    for i in range(n_shards):
        dump = os.path.join(work, f"shard{i}.dump")
        peerlib.jsonl_to_scriptindex(os.path.join(split, f"shard{i}.jsonl"), dump)
        procs.append(subprocess.Popen(["scriptindex", "--overwrite", "--stemmer=none",
                                       os.path.join(work, f"shard{i}"), script, dump],
                                      stdout=subprocess.DEVNULL))
        if len(procs) >= 2:  # two cores
            if procs.pop(0).wait():
                raise RuntimeError("scriptindex failed")
    for p in procs:
        if p.wait():
            raise RuntimeError("scriptindex failed")
    for i in range(n_shards):
        os.unlink(os.path.join(work, f"shard{i}.dump"))


def prepare(corpus, work, limit, engines, per_class):
    """Builds (or reuses) every index and the query file under work; returns
    {sgs, sphinx, xapian, queries, docs}."""
    os.makedirs(work, exist_ok=True)
    key = corpus_key(corpus, limit)
    stamp = os.path.join(work, "stamp.json")
    old = json.load(open(stamp)) if os.path.exists(stamp) else {}
    if old.get("key") != key:
        old = {"key": key}
    paths = {"sgs": os.path.join(work, "sgs"), "split": os.path.join(work, "split"),
             "sphinx": os.path.join(work, "sphinx"), "xapian": os.path.join(work, "xapian"),
             "queries": os.path.join(work, f"queries-{per_class}.tsv")}

    def save():
        with open(stamp + ".part", "w") as f:
            json.dump(old, f)
        os.replace(stamp + ".part", stamp)

    if not old.get("split"):
        C.log(f"peers: splitting {corpus} into {SHARDS} shards")
        old["docs"] = split_corpus(corpus, paths["split"], limit)
        old["split"] = True
        save()
    if not old.get("sgs") or not C.index_is_readable(paths["sgs"]):
        C.log("peers: sgs-index build")
        shutil.rmtree(paths["sgs"], ignore_errors=True)
        cat = subprocess.Popen(["cat"] + [os.path.join(paths["split"], f"shard{i}.jsonl")
                                          for i in range(SHARDS)], stdout=subprocess.PIPE)
        subprocess.run([C.SGS_INDEX, "build", "--input", "-", "--shards", str(SHARDS),
                        "--out", paths["sgs"], "--quiet", "--threads", "2"],
                       stdin=cat.stdout, check=True)
        cat.stdout.close()
        cat.wait()
        old["sgs"] = True
        old.pop("queries", None)
        save()
    if old.get("queries") != per_class or not newer(paths["queries"], C.MAKE_QUERIES):
        subprocess.run([sys.executable, C.MAKE_QUERIES, paths["sgs"], paths["queries"],
                        "--per-class", str(per_class), "--seed", "1", "--pool", "5000",
                        "--skip", "50", "--build", C.BUILD], check=True)
        old["queries"] = per_class
        save()
    if "sphinx" in engines and not old.get("sphinx"):
        C.log("peers: Sphinx indexer (4 plain indexes)")
        t0 = time.time()
        shutil.rmtree(paths["sphinx"], ignore_errors=True)
        build_sphinx(paths["split"], paths["sphinx"], SHARDS)
        old["sphinx"] = True
        old["sphinx_build_s"] = round(time.time() - t0, 1)
        save()
    if "xapian" in engines and not old.get("xapian"):
        C.log("peers: Xapian scriptindex (4 databases)")
        t0 = time.time()
        shutil.rmtree(paths["xapian"], ignore_errors=True)
        build_xapian(paths["split"], paths["xapian"], SHARDS)
        old["xapian"] = True
        old["xapian_build_s"] = round(time.time() - t0, 1)
        save()
    paths["docs"] = old["docs"]
    return paths


# ---------------------------------------------------------------- servers

def free_ports(n):
    """n distinct free loopback ports (bound together, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_port(port, popen, log_path, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"exited {popen.returncode}; see {log_path}:\n"
                               + open(log_path, errors="replace").read()[-2000:])
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s; see {log_path}")


class Servers:
    """Processes started for one peer, killed by PID (the whole process
    group each leads: xapian-tcpsrv forks a child per connection)."""

    def __init__(self, scratch):
        self.scratch = scratch
        self.procs = []

    def start(self, name, argv, port):
        log_path = os.path.join(self.scratch, f"{name}.log")
        p = subprocess.Popen(argv, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs.append(p)
        wait_port(port, p, log_path)
        return p

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        self.procs = []


SEARCHD = """
searchd
{{
    {listen}
    log                 = {dir}/searchd.log
    pid_file            = {dir}/searchd.pid
    binlog_path         =
    workers             = threads
    max_children        = 0
    read_timeout        = 10
    client_timeout      = 60
    max_packet_size     = 8M
    persistent_connections_limit = 64
    seamless_rotate     = 0
    preopen_indexes     = 1
    unlink_old          = 0
}}
"""


def start_sphinx(paths, servers, scratch):
    """8 agent searchd (API protocol) and a front searchd (SphinxQL) with the
    distributed index `dist`; returns the front's HOST:PORT."""
    ports = free_ports(SHARDS * REPLICAS + 1)
    agents = {}
    for s in range(SHARDS):
        for r in range(REPLICAS):
            port = ports[s * REPLICAS + r]
            d = os.path.join(scratch, f"searchd-{s}-{r}")
            os.makedirs(d, exist_ok=True)
            idx = os.path.join(paths["sphinx"], f"shard{s}-r{r}", "idx")
            conf = os.path.join(d, "sphinx.conf")
            with open(conf, "w") as f:
                f.write(f"index shard{s}\n{{\n    type = plain\n    path = {idx}\n}}\n")
                f.write(SEARCHD.format(listen=f"listen = 127.0.0.1:{port}", dir=d))
            servers.start(f"searchd-{s}-{r}", ["searchd", "--config", conf, "--nodetach"], port)
            agents[(s, r)] = port
    front = ports[-1]
    d = os.path.join(scratch, "searchd-front")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "sphinx.conf")
    with open(conf, "w") as f:
        f.write("index dist\n{\n    type = distributed\n    ha_strategy = roundrobin\n")
        for s in range(SHARDS):
            mirrors = "|".join(f"127.0.0.1:{agents[(s, r)]}" for r in range(REPLICAS))
            f.write(f"    agent_persistent = {mirrors}:shard{s}\n")
        f.write("    agent_connect_timeout = 1000\n    agent_query_timeout = 10000\n}\n")
        f.write(SEARCHD.format(listen=f"listen = 127.0.0.1:{front}:mysql41", dir=d))
    servers.start("searchd-front", ["searchd", "--config", conf, "--nodetach"], front)
    return f"127.0.0.1:{front}"


def start_xapian(paths, servers):
    """8 xapian-tcpsrv; returns xapian_e2e's target spec."""
    ports = free_ports(SHARDS * REPLICAS)
    shards = []
    for s in range(SHARDS):
        db = os.path.join(paths["xapian"], f"shard{s}")
        mirrors = []
        for r in range(REPLICAS):
            port = ports[s * REPLICAS + r]
            servers.start(f"tcpsrv-{s}-{r}", ["xapian-tcpsrv", "--interface", "127.0.0.1",
                                               "--port", str(port), "--quiet", db], port)
            mirrors.append(f"127.0.0.1:{port}")
        shards.append("|".join(mirrors))
    return ",".join(shards)


# ---------------------------------------------------------------- runs

TICK = os.sysconf("SC_CLK_TCK")


def _own_cpu(pid):
    """utime + stime of one process (its threads included), in ticks, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def _descendants(pids):
    out, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        out.append(pid)
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


class CpuMeter(threading.Thread):
    """CPU seconds of some processes and all their descendants over a run,
    sampled every 50 ms: xapian-tcpsrv serves each connection in a child it
    does not wait for, so the children's time never reaches the parent's
    cutime. A child's last < 50 ms (after its last query) can be missed."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids = pids
        self.base, self.last = {}, {}
        self.halt = threading.Event()
        self.sample(self.base)

    def sample(self, into):
        for pid in _descendants(self.pids):
            v = _own_cpu(pid)
            if v is not None:
                into[pid] = v

    def run(self):
        while not self.halt.wait(0.05):
            self.sample(self.last)

    def stop(self):
        self.halt.set()
        self.join()
        self.sample(self.last)
        return sum(v - self.base.get(pid, 0) for pid, v in self.last.items()) / TICK


def children_cpu():
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def with_cpu(fn, server_pids):
    """Runs fn() (one benchmark run); adds to its report the CPU seconds of
    the servers (server_cpu_s) and of the load generator (client_cpu_s),
    and both per answered request, warm-up included (cpu_ms_per_query)."""
    meter, c0 = CpuMeter(server_pids), children_cpu()
    meter.start()
    rep = fn()
    srv, cli = meter.stop(), children_cpu() - c0
    n = max(1, rep.get("sent_total") or rep["requests"])
    rep["server_cpu_s"], rep["client_cpu_s"] = round(srv, 3), round(cli, 3)
    rep["cpu_ms_per_query"] = {"server": round(1e3 * srv / n, 4), "client": round(1e3 * cli / n, 4),
                               "total": round(1e3 * (srv + cli) / n, 4)}
    return rep

def sgs_counts(root_url, queries):
    out = []
    for _, q in queries:
        st, body = C.http_get(f"{root_url}/search?k=0&q={urllib.parse.quote(q)}", 10)
        out.append(json.loads(body)["total"]["value"] if st == 200 else -1)
    return out


def driver_counts(exe, target, queries_path):
    p = subprocess.run([exe, "--target", target, "--queries", queries_path, "--counts"],
                       capture_output=True, text=True, timeout=600)
    if p.returncode:
        raise RuntimeError(f"{exe} --counts failed: {p.stderr[-2000:]}")
    return [json.loads(line)["count"] for line in p.stdout.splitlines() if line.strip()]


def agreement(counts, queries):
    """Per peer: how many queries give sgsearch's exact count, and examples."""
    ours = counts["sgsearch"]
    res = {"queries": len(queries)}
    for eng, theirs in counts.items():
        if eng == "sgsearch":
            continue
        diff = [(queries[i], ours[i], theirs[i]) for i in range(len(queries)) if ours[i] != theirs[i]]
        rel = [abs(o - t) / max(o, t, 1) for _, o, t in diff]
        by_cls = {}
        for (cls, _), o, t in diff:
            by_cls[cls] = by_cls.get(cls, 0) + 1
        res[eng] = {"equal": len(queries) - len(diff), "differ": len(diff),
                    "differ_by_class": by_cls,
                    "max_rel_diff": round(max(rel), 5) if rel else 0.0,
                    "examples": [{"q": q[1], "sgsearch": o, eng: t} for q, o, t in diff[:5]]}
        C.log(f"peers: {eng} counts: {len(queries) - len(diff)} of {len(queries)} equal to "
              f"sgsearch's" + (f", max relative difference {max(rel):.4f}" if rel else ""))
    return res


def run_driver(exe, target, queries, out, name, conns, duration, warmup, rate=None):
    js = os.path.join(out, f"{name}.json")
    argv = [exe, "--target", target, "--queries", queries, "--connections", str(conns),
                  "--duration", str(duration), "--warmup", str(warmup), "--json", js,
                  "--label", name] + (["--rate", str(rate)] if rate else [])
    p = subprocess.run(argv, capture_output=True, text=True, timeout=duration + warmup + 300)
    if p.returncode:
        raise RuntimeError(f"{name}: driver failed ({p.returncode}): {p.stderr[-2000:]}")
    with open(js) as f:
        rep = json.load(f)
    L = rep["latency_ms"]
    C.log(f"{name}: {rep['achieved_rate']:.0f} q/s  p50 {L['p50']:.2f}  p99 {L['p99']:.2f}  "
          f"max {L['max']:.2f} ms  errors {rep['errors']}")
    return rep


def run_sgs(url, queries, out, name, conns, duration, warmup, rate=None):
    if rate:  # open loop over at most conns connections, as the peers' drivers
        return C.bench(url, queries, out, name, rate=rate, duration=duration, warmup=warmup,
                       max_connections=conns)
    return C.bench(url, queries, out, name, connections=conns, duration=duration, warmup=warmup)


def median_run(reps):
    """The per-engine figure over rounds: medians of rate and percentiles."""
    med = lambda xs: statistics.median(xs)
    return {"achieved_rate": med([r["achieved_rate"] for r in reps]),
            "latency_ms": {k: med([r["latency_ms"][k] for r in reps])
                           for k in ("p50", "p90", "p99", "p999", "max", "mean")},
            "errors": sum(r["errors"] for r in reps), "requests": sum(r["requests"] for r in reps),
            "cpu_ms_per_query": {k: med([r["cpu_ms_per_query"][k] for r in reps])
                                 for k in ("server", "client", "total")},
            "rounds": len(reps), "all_rates": [r["achieved_rate"] for r in reps],
            "all_p99_ms": [r["latency_ms"]["p99"] for r in reps]}


def plot(out, summary, engines):
    """peers.png: q/s and p99 against connections, one line per engine."""
    gp = shutil.which("gnuplot")
    dat = os.path.join(out, "peers.dat")
    conns = summary["connections"]
    with open(dat, "w") as f:
        f.write("# connections " + " ".join(f"{e}_qps {e}_p99_ms" for e in engines) + "\n")
        for c in conns:
            row = [str(c)]
            for e in engines:
                r = summary["runs"][e].get(str(c))
                row += [f"{r['achieved_rate']:.1f}", f"{r['latency_ms']['p99']:.4f}"] if r else ["?", "?"]
            f.write(" ".join(row) + "\n")
    png = os.path.join(out, "peers.png")
    script = os.path.join(out, "peers.gp")
    with open(script, "w") as f:
        f.write("set terminal pngcairo size 1100,480\n")
        f.write(f"set output '{png}'\nset datafile missing '?'\n")
        f.write("set multiplot layout 1,2 title 'end to end, 4 shards x 2 replicas, TOP-10, "
                f"{summary['docs']} docs'\n")
        f.write("set logscale x 2\nset grid\nset key left top\nset xlabel 'connections'\n")
        f.write("set ylabel 'queries/s'\nset logscale y\n")
        f.write("plot " + ", ".join(f"'{dat}' using 1:{2 + 2 * i} with linespoints title '{e}'"
                                    for i, e in enumerate(engines)) + "\n")
        f.write("set ylabel 'p99 latency (ms)'\n")
        f.write("plot " + ", ".join(f"'{dat}' using 1:{3 + 2 * i} with linespoints title '{e}'"
                                    for i, e in enumerate(engines)) + "\n")
        f.write("unset multiplot\n")
    if not gp:
        C.log("gnuplot not installed (scripts/deps.sh bench): no plot")
        return None
    subprocess.run([gp, script], check=True)
    return png


def main():
    ap = C.common_args(argparse.ArgumentParser(description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter))
    ap.add_argument("--corpus", help="JSONL corpus (default data/gcide.jsonl; --short: synthetic)")
    ap.add_argument("--limit", type=int, default=0, help="first N documents of the corpus only")
    ap.add_argument("--work", help="index cache (default data/bench/peers-e2e)")
    ap.add_argument("--connections", default=None, help="comma list (default 1,4,16; --short 1,4)")
    ap.add_argument("--duration", type=float, help="seconds per run (default 10; --short 1)")
    ap.add_argument("--warmup", type=float, help="seconds per run before measuring (default 2)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 3; --short 1)")
    ap.add_argument("--rate", type=float, default=None,
                    help="open-loop rate for every engine (default: half the slowest engine's "
                         "closed-loop maximum; 0: no open-loop phase)")
    ap.add_argument("--per-class", type=int, help="queries per class (default 200; --short 20)")
    ap.add_argument("--peers", default="sgsearch,sphinx,xapian")
    ap.add_argument("--leaf-threads", type=int, default=1)
    ap.add_argument("--root-flag", action="append", default=[], help="extra sgs-root flag")
    a = ap.parse_args()
    miss = C.missing_programs()
    if miss:
        sys.exit(f"peers: not built: {' '.join(miss)}")
    wanted = [e for e in a.peers.split(",") if e]
    for e in wanted:
        if e not in ENGINES:
            sys.exit(f"peers: unknown peer {e} (known: {','.join(ENGINES)})")
    out, scratch = C.workdir(a, "peers")
    conns = [int(x) for x in (a.connections or ("1,4" if a.short else "1,4,16")).split(",")]
    duration = a.duration or (1.0 if a.short else 10.0)
    warmup = a.warmup if a.warmup is not None else (0.3 if a.short else 2.0)
    rounds = a.rounds or (1 if a.short else 3)
    per_class = a.per_class or (20 if a.short else 200)
    drivers = build_drivers()
    engines, skipped = [], {}
    for e in wanted:
        if e == "sgsearch" or os.path.isabs(drivers[e]):
            engines.append(e)
        else:
            skipped[e] = drivers[e]
            C.log(f"peers: skipping {e}: {drivers[e]}")
    load_start = open("/proc/loadavg").read().split()[:3]
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    servers = {"sphinx": Servers(scratch), "xapian": Servers(scratch)}
    try:
        if a.short and not a.corpus:
            corpus = os.path.join(scratch, "synth.jsonl")
            with open(corpus, "w") as f:
                subprocess.run([C.SGS_SYNTH, "--docs", "3000", "--vocab", "3000", "--seed", "1",
                                "--mean-len", "40"], stdout=f, check=True)
            work = os.path.join(scratch, "work")
        else:
            corpus = a.corpus or os.path.join(C.ROOT, "data", "gcide.jsonl")
            work = a.work or os.path.join(C.ROOT, "data", "bench", "peers-e2e",
                                          os.path.basename(corpus).split(".")[0]
                                          + (f"-{a.limit}" if a.limit else ""))
        paths = prepare(corpus, work, a.limit, engines, per_class)
        queries = os.path.join(out, "queries.tsv")
        shutil.copyfile(paths["queries"], queries)
        qlist = [tuple(l.rstrip("\n").split("\t", 1)) for l in open(queries) if "\t" in l]
        targets = {}
        cl = C.Cluster(paths["sgs"], SHARDS, REPLICAS, scratch, a.root_flag, a.leaf_threads)
        if "sgsearch" in engines:
            cl.__enter__()
            targets["sgsearch"] = cl.root.url
        try:
            if "sphinx" in engines:
                targets["sphinx"] = start_sphinx(paths, servers["sphinx"], scratch)
            if "xapian" in engines:
                targets["xapian"] = start_xapian(paths, servers["xapian"])
            counts = {}
            if "sgsearch" in engines:
                counts["sgsearch"] = sgs_counts(targets["sgsearch"], qlist)
            for e in ("sphinx", "xapian"):
                if e in engines:
                    counts[e] = driver_counts(drivers[e], targets[e], queries)
            agree = agreement(counts, qlist) if "sgsearch" in counts else {}
            def one(e, name, c, rate=None):
                if e == "sgsearch":
                    pids = [p.popen.pid for p in list(cl.leaves.values()) + [cl.root]]
                    fn = lambda: run_sgs(targets[e], queries, out, name, c, duration, warmup, rate)
                else:
                    pids = [p.pid for p in servers[e].procs]
                    fn = lambda: run_driver(drivers[e], targets[e], queries, out, name, c,
                                            duration, warmup, rate)
                rep = with_cpu(fn, pids)
                with open(os.path.join(out, f"{name}.json"), "w") as f:
                    json.dump(rep, f)
                return rep

            per = {e: {} for e in engines}
            for c in conns:
                for rnd in range(rounds):
                    order = engines[rnd % len(engines):] + engines[:rnd % len(engines)]
                    for e in order:
                        per[e].setdefault(c, []).append(one(e, f"{e}-c{c}-r{rnd}", c))
            # Open loop: every engine at the same rate, half of the slowest
            # engine's closed-loop maximum (at the highest concurrency), over
            # at most that many connections.
            top = conns[-1]
            rate = a.rate or max(10, round(0.5 * min(statistics.median(
                r["achieved_rate"] for r in per[e][top]) for e in engines)))
            opened = {e: [] for e in engines}
            if a.rate != 0:
                for rnd in range(rounds):
                    order = engines[rnd % len(engines):] + engines[:rnd % len(engines)]
                    for e in order:
                        opened[e].append(one(e, f"{e}-rate{rate}-r{rnd}", top, rate))
        finally:
            cl.close()
            for sv in servers.values():
                sv.close()
        runs = {e: {str(c): median_run(per[e][c]) for c in conns} for e in engines}
        open_runs = {e: median_run(opened[e]) for e in engines if opened[e]}
        load_end = open("/proc/loadavg").read().split()[:3]
        goal = {}
        peers_here = [e for e in engines if e != "sgsearch"]
        if "sgsearch" in engines and peers_here:
            for c in conns:
                ours = runs["sgsearch"][str(c)]
                best = max(peers_here, key=lambda e: runs[e][str(c)]["achieved_rate"])
                theirs = runs[best][str(c)]
                ratio = ours["achieved_rate"] / theirs["achieved_rate"] if theirs["achieved_rate"] else 0
                goal[str(c)] = {"faster_peer": best, "throughput_ratio": round(ratio, 2),
                                "p99_ms": ours["latency_ms"]["p99"],
                                "peer_p99_ms": theirs["latency_ms"]["p99"],
                                "met": ratio >= 5 and ours["latency_ms"]["p99"] < theirs["latency_ms"]["p99"]}
        summary = {"scenario": "peers", "short": a.short, "corpus": corpus, "docs": paths["docs"],
                   "shards": SHARDS, "replicas": REPLICAS, "engines": engines, "skipped": skipped,
                   "connections": conns, "duration_s": duration, "warmup_s": warmup,
                   "rounds": rounds, "queries": len(qlist), "niceness": os.nice(0),
                   "leaf_threads": a.leaf_threads, "started": started,
                   "loadavg_start": load_start, "loadavg_end": load_end, "cpus": os.cpu_count(),
                   "agreement": agree, "runs": runs, "goal_5x_and_lower_p99": goal,
                   "open_loop": {"rate": rate if open_runs else None, "max_connections": top,
                                 "runs": open_runs},
                   "command": " ".join(sys.argv)}
        C.write_summary(out, summary)
        plot(out, summary, engines)
        top = str(conns[-1])
        C.plot_percentiles(out, f"peers-c{top}", f"end to end, {top} connections (closed loop)",
                           [(e, per[e][conns[-1]][0]) for e in engines])
        rows = []
        for c in conns:
            for e in engines:
                r = runs[e][str(c)]
                L = r["latency_ms"]
                cpu = r["cpu_ms_per_query"]
                rows.append([c, e, f"{r['achieved_rate']:.0f}", f"{L['p50']:.2f}", f"{L['p90']:.2f}",
                             f"{L['p99']:.2f}", f"{L['max']:.2f}", r["errors"], f"{cpu['server']:.3f}",
                             f"{cpu['client']:.3f}"])
        print(C.table(["conns", "engine", "q/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors",
                       "server cpu ms/q", "client cpu ms/q"], rows))
        if open_runs:
            rows = []
            for e, r in open_runs.items():
                L = r["latency_ms"]
                rows.append([e, f"{r['achieved_rate']:.0f}", f"{L['p50']:.2f}", f"{L['p90']:.2f}",
                             f"{L['p99']:.2f}", f"{L['p999']:.2f}", f"{L['max']:.2f}", r["errors"],
                             f"{r['cpu_ms_per_query']['server']:.3f}"])
            print(f"open loop at {rate} q/s, at most {top} connections, latency from intended send:")
            print(C.table(["engine", "q/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
                           "errors", "server cpu ms/q"], rows))
            C.plot_percentiles(out, "peers-open", f"end to end, open loop at {rate} q/s",
                               [(e, opened[e][0]) for e in engines])
        for c, g in goal.items():
            print(f"{c} connections: sgsearch {g['throughput_ratio']}x the q/s of {g['faster_peer']}, "
                  f"p99 {g['p99_ms']:.2f} vs {g['peer_p99_ms']:.2f} ms: goal "
                  + ("met" if g["met"] else "not met"))
        for e, why in skipped.items():
            print(f"{e}: skipped ({why})")
        print(f"results: {out}")
    finally:
        for sv in servers.values():
            sv.close()
        if not a.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
