"""bench/scenarios/root_cost.py in its short form: it starts and stops its
own leaves, roots and nginx and must produce every phase's figures with the
expected fields and sane signs. Only the output's shape is checked, never
its speed."""
import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCEN = os.path.join(ROOT, "bench", "scenarios")
sys.path.insert(0, SCEN)
import cluster  # noqa: E402

BENCH = os.path.join(cluster.BUILD, "bench")
NEEDED = cluster.missing_programs() + [
    p for p in (os.path.join(BENCH, "bench_http_client"), os.path.join(BENCH, "bench_root_latency"))
    if not os.access(p, os.X_OK)]
pytestmark = pytest.mark.skipif(bool(NEEDED), reason="not built yet: " + " ".join(
    os.path.basename(p) for p in NEEDED))
HAVE_WRK_NGINX = bool(shutil.which("wrk")) and bool(shutil.which("nginx") or
                                                   os.path.exists("/usr/sbin/nginx"))


def test_root_cost_short(tmp_path):
    phases = ["client", "cpu", "overhead"] + (["fanout"] if HAVE_WRK_NGINX else [])
    p = subprocess.run([sys.executable, os.path.join(SCEN, "root_cost.py"), "--short", "--out",
                        str(tmp_path), "--phases", ",".join(phases)],
                       capture_output=True, text=True, timeout=300)
    print(p.stdout)
    print(p.stderr[-4000:])
    assert p.returncode == 0
    with open(tmp_path / "summary.json") as f:
        s = json.load(f)
    assert s["scenario"] == "root_cost" and s["short"] is True and s["cores"] >= 1

    runs = s["client"]["runs"]
    targets = {(r["client"], r["target"], r["connections"]) for r in runs}
    assert ("sgs http_client", "trivial", 8) in targets
    assert ("sgs http_client", "sgs-leaf", 1) in targets
    assert ("blocking send+recv", "trivial", 1) in targets
    assert ("blocking send+recv", "sgs-leaf", 1) in targets
    if s["client"]["libcurl_built"]:
        assert any(r["client"].startswith("libcurl") and r["target"] == "sgs-leaf" for r in runs)
    for r in runs:
        assert r["failed"] == 0 and r["requests"] > 0 and r["client_cpu_us_per_request"] > 0

    c = s["cpu"]
    assert c["shards"] == 4 and c["queries"]["1"] > 0 and c["queries"]["4"] > 0
    assert c["root_cpu_us_per_query"]["1"] > 0 and c["root_cpu_us_per_query"]["4"] > 0
    assert isinstance(c["root_cpu_us_per_sub_request"], (int, float))
    assert c["goal_met"] == (c["root_cpu_us_per_sub_request"] <= 10)
    assert set(c["variants"]) == {"current"}
    assert c["variants"]["current"]["closed"]["root_cpu_us_per_sub_request"] == \
        c["root_cpu_us_per_sub_request"]

    o = s["overhead"]
    assert o["loopback_rtt_us_p50"] > 0 and o["root_latency_us_p50"] > 0
    assert o["slowest_leaf_us_p50"] >= 0
    assert o["overhead_us_p50"] <= o["root_latency_us_p50"]
    for k in ("root_own_us_p50", "leaf_round_trip_minus_service_us_p50",
              "root_internal_overhead_us_p50"):
        assert isinstance(o[k], (int, float)), k
    assert o["goal_met"] == (o["overhead_us_p50"] <= 2 * o["loopback_rtt_us_p50"])
    assert o["bare_round_trip_us_p50"] > 0 and o["bare_fanout_us_p50"] > 0
    assert o["bare_fanout_beyond_round_trip_us_p50"] == round(
        o["bare_fanout_us_p50"] - o["bare_round_trip_us_p50"], 1)
    for r in o["runs"]["bare_fanout"]:
        assert r["fanout"] == o["shards"] and r["rate"] == 0 and r["exchanges"] > 0, r
    for r in o["runs"]["root"] + o["runs"]["nginx"]:
        assert r["errors"] == 0 and r["requests"] > 0

    if HAVE_WRK_NGINX:
        f = s["fanout"]
        assert f["leaves"] == 2 and f["root_median_rps"] > 0 and f["nginx_median_rps"] > 0
        assert f["goal_met"] == (f["ratio"] >= 0.25)
    assert "root CPU per sub-request" in p.stdout and "bare 4-way fan-out" in p.stdout
