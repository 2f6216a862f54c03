"""The end-to-end peers scenario in its short form (seconds): sgsearch
(sgs-root over 8 sgs-leaf), Sphinx's distributed index over 8 agent
searchd, and Xapian's remote shards (8 xapian-tcpsrv) on a small synthetic
corpus. A peer that is not installed must be reported as skipped, with a
reason; an installed one must give exactly sgsearch's match counts and a
closed-loop report per concurrency. Only the output's shape and the counts
are checked, never speed."""
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


def check_latency(L):
    for k in ("p50", "p90", "p99", "p999", "max", "mean"):
        assert isinstance(L[k], (int, float)) and L[k] >= 0
    assert L["p50"] <= L["p90"] <= L["p99"] <= L["p999"] <= L["max"]


def test_peers_short(tmp_path):
    out = tmp_path / "peers"
    p = subprocess.run([sys.executable, os.path.join(SCEN, "peers.py"), "--short", "--out",
                        str(out), "--connections", "1,2"], capture_output=True, text=True,
                       timeout=600)
    print(p.stdout)
    print(p.stderr[-4000:])
    assert p.returncode == 0
    s = json.load(open(out / "summary.json"))
    assert s["scenario"] == "peers" and s["shards"] == 4 and s["replicas"] == 2
    assert s["connections"] == [1, 2]
    assert s["engines"][0] == "sgsearch"
    # Every peer is either measured or skipped with a reason, never silently absent.
    assert set(s["engines"]) | set(s["skipped"]) == {"sgsearch", "sphinx", "xapian"}
    assert not set(s["engines"]) & set(s["skipped"])
    for why in s["skipped"].values():
        assert "needs" in why
        assert why in p.stdout
    classes = {line.split("\t", 1)[0] for line in open(out / "queries.tsv")}
    assert {"and2", "or2", "not2"} <= classes
    assert s["queries"] == 20 * len(classes)
    for eng in s["engines"]:
        for c in ("1", "2"):
            r = s["runs"][eng][c]
            assert r["achieved_rate"] > 0 and r["requests"] > 0 and r["errors"] == 0
            check_latency(r["latency_ms"])
            cpu = r["cpu_ms_per_query"]
            assert cpu["server"] > 0 and cpu["client"] > 0
            assert abs(cpu["total"] - cpu["server"] - cpu["client"]) < 1e-3
            rep = json.load(open(out / f"{eng}-c{c}-r0.json"))
            assert rep["requests"] > 0
            if eng != "sgsearch":
                assert rep["engine"] == eng and rep["connections"] == int(c)
                assert rep["hits"] > 0 and rep["spectrum"][-1]["q"] == 1.0
        if eng != "sgsearch":
            # The synthetic corpus is ASCII words: every engine must count alike.
            a = s["agreement"][eng]
            assert a["equal"] == s["queries"] and a["differ"] == 0, a
            assert set(s["goal_5x_and_lower_p99"]) == {"1", "2"}
    o = s["open_loop"]
    assert o["rate"] >= 10 and o["max_connections"] == 2
    assert set(o["runs"]) == set(s["engines"])
    for eng, r in o["runs"].items():
        assert r["requests"] > 0 and r["errors"] == 0
        check_latency(r["latency_ms"])
        rep = json.load(open(out / f"{eng}-rate{o['rate']}-r0.json"))
        assert rep["mode"] == "open" and rep["target_rate"] == o["rate"]
        assert rep["latency_from"] in ("intended_send",)
    assert "conns" in p.stdout and "engine" in p.stdout and "open loop at" in p.stdout
    if cluster.shutil.which("gnuplot"):
        for png in ("peers.png", "peers-c2.png", "peers-open.png"):
            assert (out / png).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.skipif(not (cluster.shutil.which("indexer") and cluster.shutil.which("indextool")),
                    reason="sphinxsearch (indexer) not installed")
def test_sphinx_index_script_uses_the_shared_config(tmp_path):
    """bench/peers/sphinx_index.sh (indexing benchmark) builds its index from
    the config peerlib.sphinx_conf writes, the one the peers scenario uses
    too, and the index holds every document."""
    sys.path.insert(0, os.path.join(ROOT, "bench", "peers"))
    import peerlib
    src = tmp_path / "in.jsonl"
    with open(src, "w") as f:
        for i in range(50):
            f.write(json.dumps({"id": "d%d" % i, "title": "t%d" % i,
                                "body": "alpha beta w%d" % (i % 7)}) + "\n")
    p = subprocess.run([os.path.join(ROOT, "bench", "peers", "sphinx_index.sh"), str(src),
                        str(tmp_path / "w")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    rec = json.loads(p.stdout.strip().splitlines()[-1])
    assert rec["ok"] and rec["docs"] == 50, rec
    work = tmp_path / "w" / "sphinx"
    conf = (work / "sphinx.conf").read_text()
    want = peerlib.sphinx_conf([("idx", str(work / "docs.tsv"), str(work / "index" / "idx"))],
                               "256M")
    # The same text after the script's header comment.
    assert conf.endswith(want) and "index idx" in conf, conf[:400]
