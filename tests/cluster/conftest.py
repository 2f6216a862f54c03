"""Process helpers for the cluster tests: build indexes with the real
sgs-index from lists of dicts, start sgs-leaf and sgs-root processes on
loopback with OS-chosen ports (--listen 127.0.0.1:0 --port-file), wait for
/readyz, talk HTTP to them, and stop them.

Invariants:
  - only processes started here are ever signalled, by their own PID
    (SIGCONT, SIGTERM, then SIGKILL after a timeout);
  - every process a test starts is stopped when the test (or module, for
    the shared fixtures) ends, also when it fails;
  - with SGS_SAN set, every process's stderr is checked for sanitizer
    reports when it stops, and a report fails the test;
  - the tests that need sgs-root are skipped, with the reason, only while
    build/<SGS_BUILD>/sgs-root does not exist.
"""
import http.client
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

import pytest

import sgs
from sgs import (SAN, SANITIZER_MARKERS, SGS_LEAF, SGS_ROOT, SLOW, build_index,  # noqa: F401
                 manifest, shard_of, synthetic_docs, test_seed, tokenize, write_jsonl)

# The test modules import these helpers as `cluster_conftest` (several
# folders hold a conftest.py, so the bare name is ambiguous).
sys.modules.setdefault("cluster_conftest", sys.modules[__name__])

ROOT = sgs.ROOT
BUILD = sgs.BUILD


def vocab_docs(seed, n, vocab=60, prefix="d", max_words=20):
    """n documents over the words t0..t<vocab-1> drawn with Zipf weights, so
    queries can mix frequent and rare words; ids are prefix-NNNNN."""
    rng = random.Random(seed)
    words = ["t%d" % i for i in range(vocab)]
    weights = [1.0 / (i + 1) for i in range(vocab)]
    docs = []
    for i in range(n):
        title = " ".join(rng.choices(words, weights, k=rng.randint(1, 4)))
        body = " ".join(rng.choices(words, weights, k=rng.randint(0, max_words)))
        docs.append({"id": "%s-%05d" % (prefix, i), "title": title, "body": body})
    return docs


class Client(sgs.Http):
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:port; replies carry
    .took, the seconds the client waited."""

    def __init__(self, port, timeout=30):
        super().__init__("http://127.0.0.1:%d" % port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, json_body=None):
        t0 = time.monotonic()
        reply = super().request(method, path, body=body, headers=headers, json_body=json_body)
        reply.took = time.monotonic() - t0
        return reply

    def search(self, q=None, query=None, **params):
        """POST /search with q or query plus params."""
        body = dict(params)
        if q is not None:
            body["q"] = q
        if query is not None:
            body["query"] = query
        return self.post("/search", json_body=body)

    def search_get(self, q, **params):
        params = dict(params, q=q)
        return self.get("/search?" + urllib.parse.urlencode(params))


def metrics(port):
    """GET /metrics as {"name{labels}": value}."""
    r = Client(port).get("/metrics")
    assert r.status == 200, r
    out = {}
    for line in r.body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out

# ---------------------------------------------------------------- processes


class Proc:
    """One server process listening on 127.0.0.1 (port 0: the OS chooses),
    its port read from --port-file; stderr kept in a file."""

    def __init__(self, binary, name, args, tmp_dir, port=0, env=None):
        self.binary, self.name, self.extra = binary, name, [str(a) for a in args]
        self.tmp_dir = str(tmp_dir)
        self.env = env
        self.port = port
        self.proc = None
        self.stderr_paths = []
        self.start()

    def start(self):
        """Starts (or restarts, on the same port once it has one) the process."""
        tag = "%s-%d" % (self.name, time.monotonic_ns())
        self.port_file = os.path.join(self.tmp_dir, tag + ".port")
        self.stderr_path = os.path.join(self.tmp_dir, tag + ".stderr")
        self.stderr_paths.append(self.stderr_path)
        self.args = [self.binary, "--listen", "127.0.0.1:%d" % self.port,
                     "--port-file", self.port_file] + self.extra
        full_env = dict(os.environ)
        full_env.update(self.env or {})
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err, env=full_env)
        self.stopped = False
        sgs._LIVE.add(self)  # killed at session end at the latest
        return self

    @property
    def pid(self):
        return self.proc.pid

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def alive(self):
        return self.proc.poll() is None

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def fail(self, why):
        rc = self.proc.poll()
        self.kill()
        raise AssertionError("%s %s (exit %s)\ncommand: %s\nstderr:\n%s" % (
            self.name, why, rc, " ".join(self.args), self.stderr()[-4000:]))

    def wait_port(self, timeout=30):
        deadline = time.monotonic() + timeout * SLOW
        while True:
            try:
                with open(self.port_file) as f:
                    text = f.read()
                if text.endswith("\n"):
                    self.port = int(text)
                    return self.port
            except FileNotFoundError:
                pass
            if not self.alive():
                self.fail("exited before listening")
            if time.monotonic() > deadline:
                self.fail("wrote no port file within %.0f s" % (timeout * SLOW))
            time.sleep(0.01)

    def readyz(self):
        try:
            return Client(self.port, timeout=2).get("/readyz").status
        except (OSError, http.client.HTTPException):
            return None

    def wait_ready(self, timeout=30):
        """Waits for the port file, then for GET /readyz 200; fails with stderr."""
        deadline = time.monotonic() + timeout * SLOW
        self.wait_port(timeout)
        last = None
        while True:
            last = self.readyz()
            if last == 200:
                return self
            if not self.alive():
                self.fail("exited before turning ready")
            if time.monotonic() > deadline:
                self.fail("/readyz not 200 within %.0f s (last: %s)" % (timeout * SLOW, last))
            time.sleep(0.02)

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def kill9(self):
        """SIGKILL now (a crash as the cluster sees it); waits for the exit."""
        self.signal(signal.SIGKILL)
        self.proc.wait(10)
        self.stopped = True
        sgs._LIVE.discard(self)

    def kill(self):
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGKILL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.stopped = True
        sgs._LIVE.discard(self)

    def stop(self, timeout=20):
        """SIGCONT (it may be stopped), SIGTERM, SIGKILL after timeout. Returns
        the exit status (None when it had to be killed)."""
        if self.stopped and not self.alive():
            return self.proc.returncode
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = None
        self.stopped = True
        sgs._LIVE.discard(self)
        return rc

    def sanitizer_reports(self):
        """Sanitizer report excerpts in every stderr this process wrote."""
        out = []
        for p in self.stderr_paths:
            try:
                with open(p, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except FileNotFoundError:
                continue
            for m in SANITIZER_MARKERS:
                i = text.find(m)
                if i >= 0:
                    out.append("%s (%s): %s" % (self.name, p, text[max(0, i - 200):i + 3000]))
        return out


class Cluster:
    """The processes of one test (or module): started through it, all
    stopped by close(), which fails on sanitizer reports or a server that
    did not exit 0 after SIGTERM."""

    def __init__(self, tmp_dir):
        self.tmp_dir = str(tmp_dir)
        self.procs = []

    def leaf(self, index_dir, shard, *args, port=0, wait=True, threads=2):
        p = Proc(SGS_LEAF, "sgs-leaf-s%d" % shard, ["--index", str(index_dir), "--shard", shard,
                                                     "--threads", threads, *args],
                 self.tmp_dir, port=port)
        self.procs.append(p)
        if wait:
            p.wait_ready()
        else:
            p.wait_port()
        return p

    def leaves(self, index_dir, shards, replicas=1, *args):
        """Leaves for shards 0..shards-1, replicas each: {shard: [Proc, ...]}."""
        return {s: [self.leaf(index_dir, s, *args) for _ in range(replicas)]
                for s in range(shards)}

    def root(self, topology, *args, wait=True, env=None):
        """sgs-root over topology ({shard: [Proc or url, ...]}) plus args."""
        a = []
        for s in sorted(topology):
            urls = [r if isinstance(r, str) else r.url for r in topology[s]]
            a += ["--shard", "%d=%s" % (s, ",".join(urls))]
        p = Proc(SGS_ROOT, "sgs-root", a + list(args), self.tmp_dir, env=env)
        self.procs.append(p)
        if wait:
            p.wait_ready()
        else:
            p.wait_port()
        return p

    def close(self):
        problems = []
        for p in reversed(self.procs):
            was_running = p.alive() and not p.stopped
            rc = p.stop()
            if was_running and rc != 0:
                problems.append("%s exited %s after SIGTERM; stderr:\n%s" % (
                    p.name, rc, p.stderr()[-2000:]))
            if SAN:
                problems += p.sanitizer_reports()
        self.procs = []
        return problems


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        problems = c.close()
    assert not problems, "\n\n".join(problems)


@pytest.fixture(scope="module")
def module_cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield c
    finally:
        problems = c.close()
    assert not problems, "\n\n".join(problems)


_ROOT_HELP = None


def root_help():
    """sgs-root --help (stdout and stderr), cached."""
    global _ROOT_HELP
    if _ROOT_HELP is None:
        r = subprocess.run([SGS_ROOT, "--help"], capture_output=True, text=True, timeout=30)
        _ROOT_HELP = r.stdout + r.stderr
    return _ROOT_HELP


def free_port_base(count):
    """A port p with p..p+count-1 all free on loopback just now."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000 - count)
        socks = []
        try:
            for p in range(base, base + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no %d consecutive free ports found" % count)


def pytest_collection_modifyitems(config, items):
    if os.path.exists(SGS_ROOT):
        return
    skip = pytest.mark.skip(reason="sgs-root is not built (%s missing): the cluster tests "
                            "need it" % os.path.relpath(SGS_ROOT, ROOT))
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.fspath).startswith(here + os.sep) and "no_root" not in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "no_root: a cluster test that runs without sgs-root")
