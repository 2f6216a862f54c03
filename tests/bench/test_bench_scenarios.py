"""The load scenarios in their short form (seconds each): each starts and
stops its own cluster of real sgs-leaf and sgs-root processes and must
produce its summary, per-run reports and plot. Only the output's shape is
checked, never its speed."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCEN = os.path.join(ROOT, "bench", "scenarios")
sys.path.insert(0, SCEN)
import cluster  # noqa: E402

pytestmark = pytest.mark.skipif(bool(cluster.missing_programs()),
                                reason="not built yet: " + " ".join(
                                    os.path.basename(p) for p in cluster.missing_programs()))


def run_scenario(name, tmp_path):
    out = tmp_path / name
    p = subprocess.run([sys.executable, os.path.join(SCEN, f"{name}.py"), "--short", "--out",
                        str(out)], capture_output=True, text=True, timeout=300)
    print(p.stdout)
    print(p.stderr[-4000:])
    assert p.returncode == 0
    with open(out / "summary.json") as f:
        return json.load(f), p.stdout, out


def check_latency(L):
    for k in ("p50", "p90", "p99", "p999", "max", "mean"):
        assert isinstance(L[k], (int, float)) and L[k] >= 0
    assert L["p50"] <= L["p90"] <= L["p99"] <= L["p999"] <= L["max"]


def check_plot(out, name):
    if cluster.shutil.which("gnuplot"):
        png = out / f"{name}.png"
        assert png.exists() and png.read_bytes()[:4] == b"\x89PNG"


def test_baseline_short(tmp_path):
    s, text, out = run_scenario("baseline", tmp_path)
    assert s["scenario"] == "baseline" and s["shards"] == 4 and s["replicas"] == 2
    assert s["max_rate"] > 0 and s["rate"] > 0 and s["requests"] > 0
    # The rate is half the open-loop maximum the step search found.
    assert s["open_loop_max_rate"] > 0 and s["open_loop_max_steps"]
    assert s["rate"] == max(10.0, round(s["open_loop_max_rate"] / 2))
    for run in ("closed_loop_max_probe", "baseline"):
        for who in ("root", "leaves"):
            c = s["cpu_per_request"][run][who]
            assert c["cpu_us"] >= 0 and c["switches"] >= 0, (run, who, c)
    check_latency(s["latency_ms"])
    assert (out / "baseline.json").exists() and (out / "max-probe.json").exists()
    check_plot(out, "baseline")
    assert "p99.9" in text


def test_straggler_short(tmp_path):
    s, text, out = run_scenario("straggler", tmp_path)
    names = {f"{w}-hedge-{h}" for w in ("healthy", "stop200of2000", "stop20of200")
             for h in ("on", "off")}
    assert set(s["runs"]) == names
    for r in s["runs"].values():
        check_latency(r["latency_ms"])
        assert isinstance(r["extra_leaf_pct"], (int, float))
        fz = r["frozen_replica"]
        assert 0 <= fz["beaten"] <= fz["requests"], fz
    assert s["runs"]["stop200of2000-hedge-on"]["freezes"] >= 1
    assert set(s["goals"]) == {"200/2000", "20/200"}
    for g in s["goals"].values():
        assert g["healthy_p999"] > 0 and g["p999_gain_bound"] > 0, g
        assert g["machine_floor_p999"] > 0 and g["p999_needed"] > 0, g
    fl = s["machine_floor"]
    assert fl["bench"] == "wake" and fl["fanout"] == 4 and fl["exchanges"] > 0, fl
    for h in (fl["latency_us"], fl["service_us"]):
        assert 0 < h["p50"] <= h["p90"] <= h["p99"] <= h["p999"] <= h["max"], fl
    assert fl["service_us"]["p50"] <= fl["latency_us"]["p50"], fl
    assert "Tail at Scale" in text and "extra leaf %" in text and "machine floor" in text
    check_plot(out, "straggler-200of2000")
    check_plot(out, "straggler-20of200")


def test_failover_short(tmp_path):
    s, text, out = run_scenario("failover", tmp_path)
    assert s["requests"] > 0
    assert s["events_s"]["kill_s"] < s["events_s"]["restart_s"]
    assert len(s["rejoin_after_restart_s"]) == 4
    assert sum(v["requests"] for v in s["per_second"].values()) == s["ok"] + sum(
        v for k, v in s["errors_by_class"].items() if k != "unsent" and not k.startswith("http_")
    ) + sum(v for k, v in s["errors_by_class"].items() if k.startswith("http_"))
    check_latency(s["latency_ms"])
    assert "back in rotation" in text


def test_fanout_short(tmp_path):
    s, text, out = run_scenario("fanout", tmp_path)
    assert [r["leaves"] for r in s["runs"]] == [1, 2, 4]
    for r in s["runs"]:
        assert r["max_rate"] > 0
        check_latency(r["latency_ms"])
    check_plot(out, "fanout")
