"""Hostile-input tests of sgs-leaf: malformed HTTP, junk bodies on every
endpoint, operator limits, and reload storms with a broken index directory.
The leaf must answer every request with a 4xx (never a 5xx or a crash) and
keep serving its generation when a reload fails."""
import errno
import json
import os
import random
import shutil
import signal
import socket
import threading
import time

import pytest

import sgs

WORDS = "alpha beta gamma delta epsilon zeta eta theta".split()


def make_docs(seed, n=200):
    rng = random.Random(seed)
    return [{"id": "d%d" % i, "title": " ".join(rng.choices(WORDS, k=3)),
             "body": " ".join(rng.choices(WORDS, k=15))} for i in range(n)]


@pytest.fixture
def index(tmp_path):
    return sgs.build_index(make_docs(1), tmp_path / "idx", 1)


def raw(port, data, timeout=5):
    """Sends data on a fresh connection and returns what came back before close."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return out
        while True:
            try:
                c = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not c:
                break
            out += c
    finally:
        s.close()
    return out


def status_of(answer):
    line = answer.split(b"\r\n", 1)[0]
    assert line.startswith(b"HTTP/1.1 "), answer[:200]
    return int(line[9:12])


def search(port, body, ctype="application/json"):
    if isinstance(body, str):
        body = body.encode()
    return raw(port, b"POST /v1/shard/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               b"Content-Type: " + ctype.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
               + body)


def test_every_method_on_every_path_is_answered_without_5xx(index):
    with sgs.Leaf(index) as leaf:
        for m in ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "FOO"]:
            for p in ["/healthz", "/readyz", "/metrics", "/v1/shard/info", "/v1/shard/search",
                      "/", "/nope", "*"]:
                a = raw(leaf.port, ("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                    "Content-Length: 0\r\n\r\n" % (m, p)).encode())
                assert status_of(a) < 500, (m, p, a[:300])


def test_malformed_http_is_refused_and_the_leaf_survives(index):
    with sgs.Leaf(index) as leaf:
        p = leaf.port
        assert status_of(raw(p, b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 200000 + b"\r\n\r\n")) == 431
        flood = b"".join(b"X%d: y\r\n" % i for i in range(20000))
        assert status_of(raw(p, b"GET /healthz HTTP/1.1\r\n" + flood + b"\r\n")) == 431
        head = b"POST /v1/shard/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        assert status_of(raw(p, head + b"Content-Length: -5\r\n\r\n{}")) == 400
        assert status_of(raw(p, head + b"Content-Length: 2\r\nContent-Length: 9\r\n\r\n{}")) == 400
        assert status_of(raw(p, head + b"Content-Length: 99999999999999999999\r\n\r\n{}")) == 413
        assert status_of(raw(p, head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")) == 400
        ok = raw(p, head + b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"q\":\r\n9\r\n\"alpha\"}\r\n0\r\n\r\n")
        assert status_of(ok) == 200
        # Half a request, then the client goes away.
        raw(p, head + b"Content-Length: 100\r\n\r\n{\"q\":", timeout=0.5)
        raw(p, b"GET /heal", timeout=0.5)
        piped = raw(p, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 5 +
                    b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert piped.count(b"HTTP/1.1 200") == 6
        assert sgs.http_get(leaf.url, "/healthz").status == 200


JUNK = [
    "[" * 100000 + "]" * 100000,
    '{"q":' * 5000 + "1" + "}" * 5000,
    '{"q":"a","k":1' + "0" * 400 + "}",
    '{"q":"a","k":NaN}', '{"q":"a","k":1.5}', '{"q":"a","k":-1}', '{"q":"a","k":4294967296}',
    '{"q":"a","k":100000000}', '{"q":"a","q":"b"}', '{"q":"a\\u0000b"}', '{"q":"a\x00b"}',
    b'{"q":"\xff\xfe"}', b'{"q":"\xc0\x80"}', '{"q":"alpha","deadline_ms":-1}',
    '{"q":"alpha","deadline_ms":4294967296}',
    json.dumps({"q": " ".join(["alpha"] * 5000)}), json.dumps({"q": " OR ".join(["alpha"] * 5000)}),
    json.dumps({"q": "(" * 5000 + "alpha" + ")" * 5000}), json.dumps({"q": "NOT " * 5000 + "alpha"}),
    json.dumps({"q": "a" * 100000}), json.dumps({"q": '"' + " ".join(["alpha"] * 3000) + '"'}),
    json.dumps({"q": '"'}), json.dumps({"q": ""}), '{"q":[1]}', '{"query":{"and":[]}}',
    '{"query":' + '{"not":' * 3000 + '{"term":"a"}' + "}" * 3000 + "}",
    "[]", '"x"', "", "{", "null",
]


@pytest.mark.parametrize("i", range(len(JUNK)))
def test_junk_json_gets_a_4xx_json_error(index, i):
    with sgs.Leaf(index) as leaf:
        a = search(leaf.port, JUNK[i])
        assert 400 <= status_of(a) < 500, a[:400]
        body = a.split(b"\r\n\r\n", 1)[1]
        assert "error" in json.loads(body)


def test_deadline_extremes_are_served(index):
    with sgs.Leaf(index) as leaf:
        for d in [0, 1, 4294967295]:
            a = search(leaf.port, json.dumps({"q": "alpha", "deadline_ms": d}))
            assert status_of(a) in (200, 504), a[:300]


def test_random_bodies_never_get_5xx(index):
    seed = sgs.test_seed()
    rng = random.Random(seed)
    with sgs.Leaf(index) as leaf:
        for _ in range(150):
            b = bytes(rng.randrange(256) for _ in range(rng.randrange(300)))
            for ct in ("application/x-sgs-v1", "application/json"):
                a = search(leaf.port, b, ct)
                assert status_of(a) < 500, (seed, ct, b.hex(), a[:300])


def test_reload_storm_with_broken_index_keeps_serving(tmp_path):
    seed = sgs.test_seed()
    rng = random.Random(seed)
    live = str(tmp_path / "idx")
    good = sgs.build_index(make_docs(2), tmp_path / "good", 1)
    sgs.build_index(make_docs(1), live, 1)
    with sgs.Leaf(live) as leaf:
        stop = threading.Event()
        bad = []

        def query():
            h = sgs.Http(leaf.url)
            while not stop.is_set():
                r = h.post("/v1/shard/search", json_body={"q": "alpha OR beta", "k": 10})
                if r.status != 200:
                    bad.append((r.status, r.body[:200]))

        def reload():
            h = sgs.Http(leaf.url)
            while not stop.is_set():
                r = h.post("/v1/admin/reload", body=b"")
                if r.status not in (200, 404, 500):
                    bad.append(("reload", r.status, r.body[:200]))

        ts = [threading.Thread(target=query) for _ in range(2)] + [threading.Thread(target=reload)]
        for t in ts:
            t.start()
        try:
            for _ in range(25):
                leaf.signal(signal.SIGHUP)
                what = rng.randrange(3)
                if what == 0:  # truncated manifest, replaced atomically
                    with open(os.path.join(good, "manifest.json")) as f:
                        m = f.read()
                    with open(live + "/manifest.json.tmp", "w") as f:
                        f.write(m[: len(m) // 2])
                    os.replace(live + "/manifest.json.tmp", live + "/manifest.json")
                elif what == 1:  # the shard file goes missing
                    for name in os.listdir(live):
                        if name.endswith(".sgs"):
                            os.rename(os.path.join(live, name), os.path.join(live, name + ".gone"))
                else:  # the whole directory is replaced
                    tmp = str(tmp_path / "next")
                    shutil.rmtree(tmp, ignore_errors=True)
                    shutil.copytree(good, tmp)
                    shutil.rmtree(live)
                    os.rename(tmp, live)
        finally:
            stop.set()
            for t in ts:
                t.join()
        assert not bad, (seed, bad[:5])
        shutil.rmtree(live)
        shutil.copytree(good, live)
        r = sgs.Http(leaf.url).post("/v1/admin/reload", body=b"")
        assert r.status == 200, r.body
        info = sgs.http_get(leaf.url, "/v1/shard/info").json
        assert info["generation"] == sgs.manifest(good)["generation"]
        assert info["last_reload_error"] is None


def test_sigterm_during_reload_exits_zero(tmp_path):
    live = sgs.build_index(make_docs(3, 2000), tmp_path / "idx", 1)
    leaf = sgs.Leaf(live)
    for _ in range(5):
        leaf.signal(signal.SIGHUP)
    leaf.signal(signal.SIGTERM)
    assert leaf.stop() == 0


def test_shard_truncated_in_place_does_not_crash(tmp_path):
    """The leaf serves its own copy of the shard: truncating or rewriting the
    file in place changes no answer, and a reload of the damaged file fails
    and keeps the loaded generation serving."""
    live = sgs.build_index(make_docs(4, 500), tmp_path / "idx", 1)
    q = {"q": "alpha OR beta", "k": 50}
    with sgs.Leaf(live) as leaf:
        h = sgs.Http(leaf.url)
        before = h.post("/v1/shard/search", json_body=q)
        assert before.status == 200, before.body
        shard = [n for n in os.listdir(live) if n.endswith(".sgs")][0]
        path = os.path.join(live, shard)
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:  # truncated in place: same inode
            f.write(data[: len(data) // 3])
        for query in (q, {"q": "gamma delta", "k": 500}, {"q": "-zeta eta", "k": 5}):
            r = h.post("/v1/shard/search", json_body=query)
            assert r.status == 200, r.body
        after = h.post("/v1/shard/search", json_body=q)
        assert after.json["hits"] == before.json["hits"]
        assert after.json["total"] == before.json["total"]
        r = h.post("/v1/admin/reload", body=b"")
        assert r.status >= 400 and "error" in r.json, r.body
        with open(path, "r+b") as f:  # rewritten in place with other bytes
            f.write(bytes(len(data)))
        assert h.post("/v1/shard/search", json_body=q).json["hits"] == before.json["hits"]
        assert leaf.proc.poll() is None
        info = h.get("/v1/shard/info").json
        assert info["reload_failures"] == 1 and info["last_reload_error"], info


def test_info_answers_while_a_reload_is_blocked(tmp_path):
    """A reload stuck opening the index (here: the manifest is a FIFO nobody
    writes yet) must not stall GET /v1/shard/info, /readyz or queries."""
    live = str(tmp_path / "idx")
    sgs.build_index(make_docs(1), live, 1)
    with open(os.path.join(live, "manifest.json")) as f:
        manifest_text = f.read()
    with sgs.Leaf(live, threads=4) as leaf:
        os.unlink(os.path.join(live, "manifest.json"))
        os.mkfifo(os.path.join(live, "manifest.json"))
        answers = []
        t = threading.Thread(target=lambda: answers.append(
            sgs.Http(leaf.url, timeout=60).post("/v1/admin/reload", body=b"")))
        t.start()
        try:
            # The reload thread now blocks in open() of the FIFO (or will soon);
            # these must answer regardless.
            for _ in range(3):
                info = sgs.Http(leaf.url, timeout=10).get("/v1/shard/info")
                assert info.status == 200
                assert sgs.Http(leaf.url, timeout=10).get("/readyz").status == 200
        finally:
            try:  # opening the FIFO for writing releases the reload
                with open(os.path.join(live, "manifest.json"), "w") as f:
                    f.write(manifest_text)
            except BrokenPipeError:  # the reader may read the FIFO as empty and close it
                pass
            t.join()
        assert answers and answers[0].status in (200, 500), answers
        os.unlink(os.path.join(live, "manifest.json"))
        with open(os.path.join(live, "manifest.json"), "w") as f:
            f.write(manifest_text)
        assert sgs.Http(leaf.url).post("/v1/admin/reload", body=b"").status == 200


def _wait_blocked_opening_fifo(proc, timeout=20):
    """Waits until a thread of proc sleeps in open() of a FIFO with no
    writer (kernel wait channel wait_for_partner)."""
    deadline = time.monotonic() + timeout * sgs.SLOW
    while True:
        task_dir = "/proc/%d/task" % proc.pid
        for tid in os.listdir(task_dir):
            try:
                with open(os.path.join(task_dir, tid, "wchan")) as f:
                    if "wait_for_partner" in f.read():
                        return
            except OSError:
                pass
        assert proc.poll() is None, "the leaf exited"
        assert time.monotonic() < deadline, "no leaf thread ever blocked opening the FIFO"
        time.sleep(0.01)


@pytest.mark.parametrize("how", ["sighup", "post"])
def test_sigterm_with_a_stuck_reload_exits_within_the_drain_timeout(tmp_path, how):
    """A reload blocked for good (here: reading a manifest FIFO that never
    delivers) neither stalls queries nor the drain: SIGTERM still exits 0
    in about --drain-timeout-ms, and the POST waiting on the reload gets a
    503 draining answer instead of hanging."""
    live = str(tmp_path / "idx")
    sgs.build_index(make_docs(5), live, 1)
    manifest = os.path.join(live, "manifest.json")
    leaf = sgs.Leaf(live, "--drain-timeout-ms", "300")
    answers = []
    t = None
    try:
        os.unlink(manifest)
        os.mkfifo(manifest)
        if how == "sighup":
            leaf.signal(signal.SIGHUP)
        else:
            t = threading.Thread(target=lambda: answers.append(
                sgs.Http(leaf.url, timeout=60).post("/v1/admin/reload", body=b"")))
            t.start()
        _wait_blocked_opening_fifo(leaf.proc)
        h = sgs.Http(leaf.url, timeout=10)
        assert h.post("/v1/shard/search", json_body={"q": "alpha", "k": 3}).status == 200
        assert h.get("/v1/shard/info").status == 200
        # A second POST, sent before SIGTERM, queues behind the stuck reload.
        late = socket.create_connection(("127.0.0.1", leaf.port), timeout=30)
        late.sendall(b"POST /v1/admin/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        time.sleep(0.2)
        h.close()
        assert leaf.stop(timeout=15) == 0
        late_answer = b""
        while b"\r\n\r\n" not in late_answer or not late_answer.endswith(b"}"):
            c = late.recv(65536)
            if not c:
                break
            late_answer += c
        late.close()
        if t is not None:
            t.join(30)
    finally:
        leaf.kill()
        try:  # releases a reader still blocked (when the test failed)
            os.close(os.open(manifest, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
    assert status_of(late_answer) == 503, late_answer
    assert json.loads(late_answer.split(b"\r\n\r\n", 1)[1])["error"]["type"] == "draining"
    for r in answers:
        assert r.status == 503 and r.json["error"]["type"] == "draining", (r.status, r.body)
    assert len(answers) == (1 if how == "post" else 0)
    assert "reload_abandoned" in leaf.stderr()


def _open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def _half_open(port, n):
    """n connections that each send half a request and then nothing."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        try:
            s.sendall(b"POST /v1/shard/search HTTP/1.1\r\nHost: x\r\nContent-Le")
        except OSError:  # refused at once: over the connection limit
            pass
        socks.append(s)
    return socks


def _closed_by_server(s):
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        return True


def test_slow_clients_time_out_and_are_capped_by_the_connection_limit(index):
    """200 half-sent requests: the leaf keeps at most --max-connections of
    them (its descriptors stay bounded), closes each after --conn-timeout-s
    without progress, and a normal request is answered afterwards."""
    with sgs.Leaf(index, "--conn-timeout-s", "1", "--max-connections", "40") as leaf:
        base = _open_fds(leaf.pid)
        socks = _half_open(leaf.port, 200)
        try:
            held = _open_fds(leaf.pid) - base
            assert held <= 40, "the leaf holds %d connections, the limit is 40" % held
            for s in socks:  # every one is closed by the server, none answered
                s.settimeout(30 * sgs.SLOW)
                assert _closed_by_server(s)
        finally:
            for s in socks:
                s.close()
        deadline = time.monotonic() + 30 * sgs.SLOW
        while True:
            try:
                r = sgs.Http(leaf.url, timeout=10).post("/v1/shard/search",
                                                        json_body={"q": "alpha", "k": 1})
                break
            except OSError:
                assert time.monotonic() < deadline, "no answer after the slow clients left"
                time.sleep(0.05)
        assert r.status == 200, r.body
        assert _open_fds(leaf.pid) - base <= 2


def test_connection_limit_is_lowered_to_fit_the_open_file_limit(index, tmp_path):
    """With a hard open-file limit too small for the default --max-connections, the leaf
    raises its soft limit to the hard one, lowers the connection limit to fit
    (saying so) and, flooded, never runs out of descriptors: requests are
    answered again once the flood times out."""
    wrapper = tmp_path / "limited-leaf"
    wrapper.write_text('#!/bin/sh\nulimit -Sn 200 && ulimit -Hn 300 && exec "%s" "$@"\n'
                       % sgs.SGS_LEAF)
    wrapper.chmod(0o755)

    class LimitedLeaf(sgs.Leaf):
        binary = str(wrapper)

    with LimitedLeaf(index, "--conn-timeout-s", "1") as leaf:  # default limit 4096
        with open("/proc/%d/limits" % leaf.pid) as f:
            line = [x for x in f if x.startswith("Max open files")][0]
        assert line.split()[3] == "300", line
        socks = _half_open(leaf.port, 400)
        try:
            assert _open_fds(leaf.pid) < 300
            for s in socks:
                s.settimeout(30 * sgs.SLOW)
                assert _closed_by_server(s)
        finally:
            for s in socks:
                s.close()
        r = None
        deadline = time.monotonic() + 30 * sgs.SLOW
        while r is None:
            try:
                r = sgs.Http(leaf.url, timeout=10).get("/healthz")
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert r.status == 200
    err = leaf.stderr()
    assert "http_limits" in err and "not 4096" in err, err[-2000:]
    assert "Too many open files" not in err, err[-2000:]


def _split(answer):
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    ctype = [l.split(b":", 1)[1].strip() for l in lines[1:] if l.lower().startswith(b"content-type:")]
    return int(lines[0][9:12]), (ctype[0] if ctype else None), body


def test_error_answers_are_json_where_the_leaf_makes_them(index):
    """The leaf's own refusals are JSON with their error type; the ones
    libmicrohttpd makes while parsing (docs/leaf.md lists them) keep their
    documented status, or close the connection, and the leaf serves on."""
    head = b"POST /v1/shard/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    ours = [
        (b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404, "not_found"),
        (b"PUT /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
         405, "method_not_allowed"),
        (head + b"Content-Length: 100000\r\n\r\n{}", 400, "body_too_large"),
        (head + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % 70000 + b"a" * 70000 +
         b"\r\n0\r\n\r\n", 400, "body_too_large"),
        (head + b"Content-Length: 1\r\n\r\n{", 400, "invalid_json"),
    ]
    theirs = [
        (b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 200000 + b"\r\n\r\n", 431),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", 400),
        (head + b"Content-Length: -5\r\n\r\n{}", 400),
        (head + b"Content-Length: 99999999999999999999\r\n\r\n{}", 413),
        (b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", 505),
        (b"GARBAGE\r\n\r\n", None),
        (head + b"Transfer-Encoding: gzip\r\n\r\n{}", None),
    ]
    with sgs.Leaf(index) as leaf:
        for req, status, etype in ours:
            st, ctype, body = _split(raw(leaf.port, req))
            assert (st, ctype) == (status, b"application/json"), (req[:80], st, ctype, body[:200])
            assert json.loads(body)["error"]["type"] == etype, body
        for req, status in theirs:
            a = raw(leaf.port, req)
            if status is None:
                assert a == b"", a[:200]
            else:
                assert _split(a)[0] == status, a[:300]
        assert sgs.http_get(leaf.url, "/healthz").status == 200
