"""scripts/run-local.sh (`make run`) and scripts/stop-local.sh on a tiny corpus:
the cluster comes up on the requested ports, answers, a second run replaces
the first, and stop-local.sh stops exactly the PIDs it recorded."""
import os
import signal
import subprocess
import time

import socket

import pytest

from cluster_conftest import (BUILD, ROOT, SGS_ROOT, SLOW, Client, free_port_base, vocab_docs,
                              write_jsonl)

RUN_LOCAL = os.path.join(ROOT, "scripts", "run-local.sh")
STOP_LOCAL = os.path.join(ROOT, "scripts", "stop-local.sh")


def _pids(data):
    path = os.path.join(data, "run", "pids")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [(int(line.split()[0]), line.split()[1], int(line.split()[2]))
                for line in f if line.strip()]


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _run(script, env):
    return subprocess.run([script], env=env, capture_output=True, text=True,
                          timeout=180 * SLOW)


@pytest.mark.no_root
def test_run_local_starts_answers_restarts_and_stops(tmp_path):
    from cluster_conftest import free_port_base
    data = str(tmp_path / "data")
    corpus = str(tmp_path / "tiny.jsonl")
    docs = vocab_docs(7, 300, vocab=30)
    write_jsonl(corpus, docs)
    base = free_port_base(9)
    env = dict(os.environ, SGS_BUILD=os.path.relpath(BUILD, ROOT), SGS_DATA=data,
               SGS_CORPUS=corpus, SGS_RUN_PORT_BASE=str(base),
               SGS_RUN_TIMEOUT_S=str(int(60 * SLOW)))
    with_root = os.path.exists(SGS_ROOT)
    started = []
    try:
        r = _run(RUN_LOCAL, env)
        started = _pids(data)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "stop-local.sh" in r.stdout
        assert len([p for p in started if p[1] == "sgs-leaf"]) == 8
        assert [p[2] for p in started if p[1] == "sgs-leaf"] == list(range(base + 1, base + 9))
        assert all(_alive(pid) for pid, _, _ in started)
        want = sum(1 for d in docs if "t0" in (d["title"] + " " + d["body"]).split())
        if with_root:
            assert [p[2] for p in started if p[1] == "sgs-root"] == [base]
            assert "curl" in r.stdout and " OR " in r.stdout.replace("+OR+", " OR ")
            a = Client(base).search(q="t0", k=3)
            assert a.status == 200, a
            assert a.json["total"]["value"] == want and a.json["partial"] is False
            g = Client(base).search_get("t0 OR t1", k=2)
            assert g.status == 200 and len(g.json["hits"]) == 2, g
        else:
            assert "sgs-root is not built" in r.stdout
            total = 0
            for port in range(base + 1, base + 5):  # replica 0 of shards 0..3
                a = Client(port).post("/v1/shard/search", json_body={"q": "t0", "k": 0})
                assert a.status == 200, a
                total += a.json["total"]
            assert total == want
        for name in os.listdir(os.path.join(data, "run")):
            assert not name.endswith(".log") or os.path.getsize(
                os.path.join(data, "run", name)) > 0, name

        # A second run stops the first cluster and starts a fresh one; it
        # rebuilds an index whose shard files are of a format this build
        # does not read (here: one shard's version set back to 1).
        assert "building the index" in r.stdout
        shard = os.path.join(data, "tiny-idx", "shard-0002.sgs")
        with open(shard, "r+b") as f:
            f.seek(8)
            f.write((1).to_bytes(4, "little"))
        r2 = _run(RUN_LOCAL, env)
        again = _pids(data)
        assert r2.returncode == 0, r2.stdout + r2.stderr
        assert "stopping the cluster started earlier" in r2.stdout
        assert "building the index" in r2.stdout, r2.stdout
        assert not any(_alive(pid) for pid, _, _ in started)
        started = again
        assert len(started) == (9 if with_root else 8)
        assert all(_alive(pid) for pid, _, _ in started)

        s = _run(STOP_LOCAL, env)
        assert s.returncode == 0, s.stdout + s.stderr
        assert "stopped %d" % len(started) in s.stdout
        deadline = time.monotonic() + 10 * SLOW
        while any(_alive(pid) for pid, _, _ in started) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(pid) for pid, _, _ in started)
        assert not os.path.exists(os.path.join(data, "run", "pids"))
        s = _run(STOP_LOCAL, env)
        assert s.returncode == 0 and "nothing to stop" in s.stdout
    finally:
        for pid, prog, _ in started + _pids(data):
            if _alive(pid):
                try:
                    with open("/proc/%d/cmdline" % pid, "rb") as f:
                        if f.read().split(b"\0")[0].endswith(prog.encode()):
                            os.kill(pid, signal.SIGKILL)
                except (FileNotFoundError, ProcessLookupError):
                    pass


@pytest.mark.no_root
def test_run_local_fails_clearly_and_cleans_up_when_a_port_is_taken(tmp_path):
    data = str(tmp_path / "data")
    corpus = str(tmp_path / "tiny.jsonl")
    write_jsonl(corpus, vocab_docs(8, 50, vocab=10))
    base = free_port_base(9)
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", base + 3))
    blocker.listen(1)
    env = dict(os.environ, SGS_BUILD=os.path.relpath(BUILD, ROOT), SGS_DATA=data,
               SGS_CORPUS=corpus, SGS_RUN_PORT_BASE=str(base),
               SGS_RUN_TIMEOUT_S=str(int(30 * SLOW)))
    try:
        r = _run(RUN_LOCAL, env)
        assert r.returncode != 0, r.stdout
        assert "exited" in r.stderr and "last lines" in r.stderr, r.stderr
        assert "stopping what was started" in r.stderr
        # Everything it started is gone: no other leaf port answers.
        for port in range(base + 1, base + 9):
            if port == base + 3:
                continue
            s = socket.socket()
            try:
                assert s.connect_ex(("127.0.0.1", port)) != 0, "port %d still served" % port
            finally:
                s.close()
    finally:
        blocker.close()
