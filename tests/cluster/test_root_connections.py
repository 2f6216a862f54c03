"""sgs-root shares the leaf's HTTP front end (common/http_server.c): a flood
of half-sent requests holds at most --max-connections descriptors, each is
closed after --conn-timeout-s without progress, and the root answers again
afterwards."""
import os
import socket
import time

import sgs


def test_root_slow_clients_are_capped_and_time_out(tmp_path):
    docs = [{"id": "d%d" % i, "title": "alpha beta", "body": "gamma %d" % i} for i in range(50)]
    index = sgs.build_index(docs, tmp_path / "idx", 1)
    with sgs.Leaf(index) as leaf:
        with sgs.Root({0: [leaf.url]}, "--conn-timeout-s", "1", "--max-connections", "40",
                      tmp_dir=tmp_path) as root:
            fd_dir = "/proc/%d/fd" % root.pid
            base = len(os.listdir(fd_dir))
            socks = []
            for _ in range(200):
                s = socket.create_connection(("127.0.0.1", root.port), timeout=30)
                try:
                    s.sendall(b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Le")
                except OSError:
                    pass
                socks.append(s)
            try:
                held = len(os.listdir(fd_dir)) - base
                assert held <= 40, "the root holds %d connections, the limit is 40" % held
                for s in socks:
                    s.settimeout(30 * sgs.SLOW)
                    try:
                        assert s.recv(1) == b""
                    except ConnectionResetError:
                        pass
            finally:
                for s in socks:
                    s.close()
            deadline = time.monotonic() + 30 * sgs.SLOW
            while True:
                try:
                    r = sgs.http_get(root.url, "/healthz")
                    break
                except OSError:
                    assert time.monotonic() < deadline, "no answer after the slow clients left"
                    time.sleep(0.05)
            assert r.status == 200
