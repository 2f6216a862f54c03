"""Shared machinery of the load scenarios: build a synthetic index, start
and stop real sgs-leaf and sgs-root processes on loopback (OS-chosen ports,
learnt from --port-file), run sgs-bench against the root, scrape Prometheus
counters, freeze a replica on a schedule with SIGSTOP/SIGCONT, and plot
percentile curves with gnuplot.

Shielding (set_sched, from --rt / --nice): on a machine shared with other
work the scheduler, not the cluster, sets the tail. With --rt PRIO every
server and the generator run under SCHED_FIFO (`chrt -f`; the generator and
the freezer thread one priority above the servers, so the load and the
freezes stay on schedule), with --nice N under `nice -n N`. Index builds and
query generation are never shielded. Needs root (or CAP_SYS_NICE).

Invariants: every process started here is tracked by its Cluster and is
killed (by PID, never by name) when the Cluster closes, even on error; a
frozen process is always continued before it is killed. Nothing listens off
127.0.0.1."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("SGS_BUILD", "build/release"))
SGS_INDEX = os.path.join(BUILD, "sgs-index")
SGS_SYNTH = os.path.join(BUILD, "sgs-synth")
SGS_LEAF = os.path.join(BUILD, "sgs-leaf")
SGS_ROOT = os.path.join(BUILD, "sgs-root")
SGS_BENCH = os.path.join(BUILD, "sgs-bench")
BENCH_WAKE = os.path.join(BUILD, "bench", "bench_wake")
MAKE_QUERIES = os.path.join(ROOT, "bench", "leaf", "make_queries.py")
RESULTS = os.path.join(ROOT, "bench", "results")

# Command prefixes for the servers and for the generator (set_sched).
SCHED = {"servers": [], "generator": [], "freezer": None, "label": "none"}


def set_sched(rt=0, nice=0):
    """Runs every later server and sgs-bench under SCHED_FIFO priority rt
    (generator and freezer at rt + 1), or at nice level nice; both 0: as is."""
    SCHED.update(servers=[], generator=[], freezer=None, label="none")
    if rt:
        SCHED.update(servers=["chrt", "-f", str(rt)], generator=["chrt", "-f", str(rt + 1)],
                     freezer=rt + 1, label=f"SCHED_FIFO {rt} (chrt -f), generator {rt + 1}")
    elif nice:
        SCHED.update(servers=["nice", "-n", str(nice)], generator=["nice", "-n", str(nice)],
                     freezer=None, label=f"nice {nice}")
    for prog in ("chrt",) if rt else ("nice",) if nice else ():
        if shutil.which(prog) is None:
            sys.exit(f"{prog} is not installed")
    if rt:
        r = subprocess.run(["chrt", "-f", str(rt), "true"], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"--rt {rt}: chrt refused ({r.stderr.strip()}); run as root")


def sched_args(parser):
    parser.add_argument("--rt", type=int, default=0, metavar="PRIO",
                        help="run servers and generator under SCHED_FIFO PRIO (chrt -f)")
    parser.add_argument("--nice", type=int, default=0, metavar="N",
                        help="run servers and generator under nice -n N (e.g. -15)")
    return parser


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return None


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def missing_programs():
    """Names of the programs the scenarios need that are not built."""
    return [p for p in (SGS_INDEX, SGS_SYNTH, SGS_LEAF, SGS_ROOT, SGS_BENCH, BENCH_WAKE)
            if not os.access(p, os.X_OK)]


def index_is_readable(out):
    """True when out holds a built index whose shard files this build reads
    (a cache from a build of another shard format is not)."""
    return (os.path.exists(os.path.join(out, "manifest.json")) and
            subprocess.run([SGS_INDEX, "inspect", out], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL).returncode == 0)


def build_index(workdir, n_docs, n_shards, vocab=20000, seed=1):
    """Builds a synthetic corpus of n_docs into n_shards; returns the index dir."""
    out = os.path.join(workdir, f"idx-{n_docs}-{n_shards}")
    if index_is_readable(out):
        return out
    shutil.rmtree(out, ignore_errors=True)
    synth = subprocess.Popen([SGS_SYNTH, "--docs", str(n_docs), "--vocab", str(vocab),
                              "--seed", str(seed), "--mean-len", "60"], stdout=subprocess.PIPE)
    subprocess.run([SGS_INDEX, "build", "--input", "-", "--shards", str(n_shards), "--out", out,
                    "--quiet", "--threads", "2", "--generation", "00000000000000%02x" % (seed & 0xff or 1)],
                   stdin=synth.stdout, check=True)
    synth.stdout.close()
    if synth.wait() != 0:
        raise RuntimeError("sgs-synth failed")
    return out


def make_queries(index_dir, out, per_class=100, seed=1):
    subprocess.run([sys.executable, MAKE_QUERIES, index_dir, out, "--per-class", str(per_class),
                    "--seed", str(seed), "--pool", "2000", "--skip", "20", "--build", BUILD],
                   check=True)
    return out


def http_get(url, timeout=2.0):
    """(status, body text) of a GET; (0, reason) when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except Exception as e:  # refused, reset, timeout
        return 0, str(e)


def scrape(url, prefix):
    """Sum of every Prometheus sample whose metric name starts with prefix."""
    st, text = http_get(url + "/metrics")
    if st != 200:
        return None
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(prefix):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name.endswith(("_bucket", "_sum", "_count")):
            continue
        try:
            total += float(line.rsplit(" ", 1)[1])
        except ValueError:
            pass
    return total


def metrics_text(url):
    st, text = http_get(url + "/metrics")
    return text if st == 200 else ""


class Proc:
    """One started server: its argv, PID, port and log file."""

    def __init__(self, name, argv, workdir, port=0):
        self.name, self.argv, self.workdir = name, argv, workdir
        self.port_file = os.path.join(workdir, f"{name}.port")
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.port = port
        self.popen = None
        self.frozen = False

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        listen = f"127.0.0.1:{self.port}"
        argv = SCHED["servers"] + self.argv + ["--listen", listen, "--port-file", self.port_file]
        self.popen = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                      stderr=open(self.log_path, "ab"))
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.popen.returncode}; see {self.log_path}:\n"
                                   + open(self.log_path, errors="replace").read()[-2000:])
            try:
                with open(self.port_file) as f:
                    text = f.read()
                if text.endswith("\n"):
                    self.port = int(text)
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.02)
        else:
            raise RuntimeError(f"{self.name} wrote no port file")
        return self

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log_path}")
            if http_get(self.url + "/readyz", 1.0)[0] == 200:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout} s")

    def signal(self, sig):
        if self.popen and self.popen.poll() is None:
            os.kill(self.popen.pid, sig)

    def kill(self):
        if self.popen and self.popen.poll() is None:
            if self.frozen:
                os.kill(self.popen.pid, signal.SIGCONT)
                self.frozen = False
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def stop(self):
        if self.popen and self.popen.poll() is None:
            if self.frozen:
                os.kill(self.popen.pid, signal.SIGCONT)
                self.frozen = False
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


class Cluster:
    """shards x replicas leaves and one root over one index; a context manager."""

    def __init__(self, index_dir, shards, replicas, workdir, root_flags=(), leaf_threads=1):
        self.index_dir, self.shards, self.replicas = index_dir, shards, replicas
        self.workdir = workdir
        self.root_flags = list(root_flags)
        self.leaves = {}  # (shard, replica) -> Proc
        self.root = None
        self.leaf_threads = leaf_threads

    def __enter__(self):
        try:
            for s in range(self.shards):
                for r in range(self.replicas):
                    p = Proc(f"leaf-{s}-{r}", [SGS_LEAF, "--index", self.index_dir, "--shard", str(s),
                                              "--threads", str(self.leaf_threads),
                                              "--log-level", "warn"], self.workdir)
                    self.leaves[(s, r)] = p.start()
            for p in self.leaves.values():
                p.wait_ready()
            argv = [SGS_ROOT]
            for s in range(self.shards):
                urls = ",".join(self.leaves[(s, r)].url for r in range(self.replicas))
                argv += ["--shard", f"{s}={urls}"]
            self.root = Proc("root", argv + self.root_flags, self.workdir).start()
            self.root.wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for p in list(self.leaves.values()) + ([self.root] if self.root else []):
            try:
                p.kill()
            except Exception:
                pass

    def root_counters(self):
        """The root's leaf-request, hedge and retry counters (Prometheus)."""
        u = self.root.url
        return {k: scrape(u, f"sgs_root_{k}_total") or 0
                for k in ("leaf_requests", "hedges_sent", "hedges_won", "retries")}

    def cpu(self):
        """CPU seconds and context switches so far of the root and of all the
        leaves together: {"root": (cpu_s, switches), "leaves": (...)}, from
        /proc/PID/task/*/{stat,status} (threads alive now)."""
        def one(pid):
            cpu = cs = 0
            hz = os.sysconf("SC_CLK_TCK")
            try:
                tasks = os.listdir(f"/proc/{pid}/task")
            except OSError:
                return 0.0, 0
            for t in tasks:
                try:
                    with open(f"/proc/{pid}/task/{t}/stat") as f:
                        x = f.read().rsplit(")", 1)[1].split()
                    cpu += int(x[11]) + int(x[12])
                    with open(f"/proc/{pid}/task/{t}/status") as f:
                        cs += sum(int(l.split()[1]) for l in f if "ctxt_switches" in l)
                except OSError:
                    pass
            return cpu / hz, cs
        leaves = [one(p.popen.pid) for p in self.leaves.values() if p.popen]
        return {"root": one(self.root.popen.pid),
                "leaves": (sum(c for c, _ in leaves), sum(n for _, n in leaves))}

    def leaf_queries(self):
        """Total sgs_leaf_queries_total over the live leaves."""
        return sum(scrape(p.url, "sgs_leaf_queries_total") or 0 for p in self.leaves.values())


class Freezer(threading.Thread):
    """Freezes a process with SIGSTOP for stop_ms out of every period_ms."""

    def __init__(self, proc, stop_ms, period_ms):
        super().__init__(daemon=True)
        self.proc, self.stop_s, self.period_s = proc, stop_ms / 1000, period_ms / 1000
        self.halt = threading.Event()
        self.stops = 0

    def run(self):
        if SCHED["freezer"]:
            # This thread only: the freezes keep their length under load.
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(SCHED["freezer"]))
        t0 = time.monotonic()
        k = 0
        while not self.halt.is_set():
            k += 1
            nxt = t0 + k * self.period_s - self.stop_s
            if self.halt.wait(max(0.0, nxt - time.monotonic())):
                break
            self.proc.signal(signal.SIGSTOP)
            self.proc.frozen = True
            self.stops += 1
            time.sleep(self.stop_s)
            self.proc.signal(signal.SIGCONT)
            self.proc.frozen = False

    def stop(self):
        self.halt.set()
        self.join()
        if self.proc.frozen:
            self.proc.signal(signal.SIGCONT)
            self.proc.frozen = False


def bench(url, queries, outdir, name, rate=None, connections=None, duration=10, warmup=0,
          timeout_ms=2000, extra=(), raw=False, max_connections=256):
    """Runs sgs-bench; returns its JSON report (also left at outdir/name.json).
    Open loop caps the pool at max_connections: past the root's capacity an
    uncapped pool only adds connections for it to juggle, and the report
    says when the cap was hit (pool_cap)."""
    js = os.path.join(outdir, f"{name}.json")
    argv = SCHED["generator"] + [SGS_BENCH, "--url", url, "--queries", queries, "--duration", str(duration),
            "--warmup", str(warmup), "--json", js, "--label", name, "--timeout-ms", str(timeout_ms),
            "--quiet"]
    argv += (["--rate", str(rate), "--max-connections", str(max_connections)] if rate
             else ["--connections", str(connections)])
    if raw:
        argv += ["--raw", os.path.join(outdir, f"{name}.raw")]
    argv += list(extra)
    subprocess.run(argv, check=True, timeout=duration + warmup + timeout_ms / 1000 + 60)
    with open(js) as f:
        rep = json.load(f)
    L = rep["latency_ms"]
    log(f"{name}: {rep['achieved_rate']:.0f} req/s  p50 {L['p50']:.2f}  p99 {L['p99']:.2f}  "
        f"p99.9 {L['p999']:.2f}  max {L['max']:.2f} ms  errors {rep['errors']}  "
        f"partial {rep['partial']}  hedged {100 * rep['hedge_rate']:.2f} %"
        + ("  GENERATOR SATURATED " + ",".join(rep["generator"]["reasons"])
           if rep["generator"]["saturated"] else ""))
    return rep


def wake_floor(rate, duration, fanout):
    """The machine's own tail under a scatter at this rate (bench_wake: one
    process exchanging 64 bytes with each of fanout bare echo processes over
    loopback TCP, open loop, no HTTP and no work), run alone under the
    generator's scheduling. Returns its JSON report (latency_us from each
    exchange's due time, service_us from its actual send)."""
    argv = SCHED["generator"] + [BENCH_WAKE, str(rate), str(duration), str(fanout)]
    r = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=duration + 60)
    rep = json.loads(r.stdout)
    L = rep["latency_us"]
    log(f"machine floor, bare {fanout}-way fan-out at {rate:g}/s: p50 {L['p50'] / 1e3:.2f}  "
        f"p99 {L['p99'] / 1e3:.2f}  p99.9 {L['p999'] / 1e3:.2f}  max {L['max'] / 1e3:.2f} ms")
    return rep


def plot_percentiles(outdir, name, title, runs):
    """Writes outdir/name.png: latency against percentile (log scale in
    1/(1-q), as HdrHistogram plots) for each (label, report) in runs.
    Returns the PNG path, or None when gnuplot is not installed."""
    gp = shutil.which("gnuplot")
    dat_paths = []
    for i, (label, rep) in enumerate(runs):
        path = os.path.join(outdir, f"{name}.{i}.dat")
        with open(path, "w") as f:
            for s in rep["spectrum"]:
                if s["q"] < 1.0:
                    f.write(f"{1.0 / (1.0 - s['q']):.6g} {max(s['ms'], 0.001):.6g}\n")
        dat_paths.append((label, os.path.basename(path)))
    # Paths in the script are relative to outdir (gnuplot runs there), so
    # the folder can be moved or committed as is.
    png = os.path.join(outdir, f"{name}.png")
    script = os.path.join(outdir, f"{name}.gp")
    with open(script, "w") as f:
        f.write("set terminal pngcairo size 900,560\n")
        f.write(f"set output '{name}.png'\n")
        f.write(f"set title '{title}'\n")
        f.write("set logscale xy\nset grid\nset key left top\n")
        f.write("set xlabel 'percentile'\nset ylabel 'latency (ms, from intended send)'\n")
        f.write("set xtics ('0' 1, '90' 10, '99' 100, '99.9' 1000, '99.99' 10000, '99.999' 100000)\n")
        f.write("plot " + ", ".join(f"'{p}' using 1:2 with linespoints title '{l}'"
                                    for l, p in dat_paths) + "\n")
    if not gp:
        log("gnuplot not installed (scripts/deps.sh bench): no plot")
        return None
    subprocess.run([gp, os.path.basename(script)], check=True, cwd=outdir)
    return png


def workdir(args, scenario):
    """The results folder (args.out, else bench/results/<scenario>[-short]) and a scratch dir."""
    out = args.out or os.path.join(RESULTS, scenario + ("-short" if args.short else ""))
    os.makedirs(out, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=f"sgs-{scenario}-")
    return out, scratch


def index_and_queries(args, scratch, docs, shards, per_class):
    """Builds (or, with --cache, reuses) the synthetic index and its query
    file; returns (index dir, query file)."""
    where = scratch
    if getattr(args, "cache", None):
        where = os.path.abspath(args.cache)
        os.makedirs(where, exist_ok=True)
    idx = build_index(where, docs, shards)
    qf = os.path.join(where, f"queries-{docs}-{shards}-{per_class}.tsv")
    if not os.path.exists(qf):
        make_queries(idx, qf + ".part", per_class=per_class)
        os.rename(qf + ".part", qf)
    return idx, qf


def common_args(parser):
    parser.add_argument("--short", action="store_true", help="seconds-long form (for make test)")
    parser.add_argument("--out", help="results folder (default bench/results/<scenario>)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--cache", help="folder to keep the built index and queries in, reused "
                        "when present (default: the scratch folder)")
    return sched_args(parser)


def write_summary(out, summary):
    path = os.path.join(out, "summary.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    return path


def pct(a, b):
    return 100.0 * a / b if b else 0.0


def table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).rjust(w) for x, w in zip(r, widths))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])
