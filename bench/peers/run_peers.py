#!/usr/bin/python3
"""Runs the peer indexers (Xapian's scriptindex, Sphinx 2.2's indexer) on one
JSONL corpus and prints one JSON object per peer on stdout:

  {"tool", "docs", "input_bytes", "seconds", "docs_per_s", "mb_per_s",
   "peak_rss_kb", "index_bytes", "command", ...}

  run_peers.py --input FILE.jsonl --workdir DIR [--json OUT]
               [--peers xapian,sphinx[,xapian-py]] [--repeat N] [--timeout S]
               [--sphinx-mem-limit 256M] [--xapian-flush 10000] [--xapian-compact]
               [--keep]

Only the peer's indexer is timed: each peer first converts the JSONL into its
own input format (untimed), the converted file is read once to warm the page
cache, then the indexer runs under /usr/bin/time -v. "seconds" is wall time,
"peak_rss_kb" the largest resident set of the indexer (or a child),
"index_bytes" the `du -sb` of what it wrote, "input_bytes" the size of the
original JSONL (so MB/s is comparable with sgs-index on the same file).
Extra keys: ok, cpu_seconds, threads, docs_indexed (read back from the index),
tool_input_bytes (converted input), settings, and with --repeat the per-run
seconds in all_seconds (the reported run is the median one).

A peer whose tool is missing is skipped with a message on stderr and a record
{"tool": ..., "ok": false, "skipped": "..."} on stdout. --json OUT also writes
all records as one JSON array. Exit status: 0 when every peer that ran
succeeded (skips are not failures), 1 otherwise.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peerlib  # noqa: E402

PEERS = {
    # name: (tools that must exist, Debian package(s) providing them)
    "xapian": (["scriptindex", "xapian-delve"], "xapian-omega xapian-tools"),
    "sphinx": (["indexer", "indextool"], "sphinxsearch"),
    "xapian-py": ([], "python3-xapian"),
}


def missing_reason(name):
    tools, pkg = PEERS[name]
    if not os.access(peerlib.TIME_BIN, os.X_OK):
        return "%s not found (apt-get install time)" % peerlib.TIME_BIN
    for t in tools:
        if shutil.which(t) is None:
            return "'%s' not found (apt-get install %s)" % (t, pkg)
    if name == "xapian-py":
        r = subprocess.run(["/usr/bin/python3", "-c", "import xapian"],
                           capture_output=True)
        if r.returncode != 0:
            return "python module xapian not importable (apt-get install %s)" % pkg
    return None


def run_script_peer(name, a, workdir):
    """Runs xapian_index.sh / sphinx_index.sh; returns the JSON record."""
    script = os.path.join(HERE, "%s_index.sh" % name)
    env = dict(os.environ)
    env["PEER_TIMEOUT"] = str(a.timeout)
    if a.keep:
        env["PEER_KEEP"] = "1"
    if name == "sphinx":
        env["SPHINX_MEM_LIMIT"] = a.sphinx_mem_limit
    if name == "xapian":
        env["XAPIAN_FLUSH_THRESHOLD"] = str(a.xapian_flush)
        env["XAPIAN_COMPACT"] = "1" if a.xapian_compact else "0"
    # conversion is untimed but bounded too: generous multiple of the build limit
    try:
        p = subprocess.run([script, a.input, workdir], env=env, stdout=subprocess.PIPE,
                           timeout=3 * a.timeout + 600, text=True)
    except subprocess.TimeoutExpired:
        return {"tool": name, "ok": False, "error": "conversion+build exceeded %ds"
                % (3 * a.timeout + 600)}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"tool": name, "ok": False,
                "error": "%s printed no result (exit %d)" % (os.path.basename(script),
                                                            p.returncode)}
    return json.loads(lines[-1])


def run_xapian_py(a, workdir):
    work = os.path.join(workdir, "xapian-py")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    db = os.path.join(work, "db")
    docs = sum(1 for line in open(a.input, "rb") if line.strip())
    cmd = ["/usr/bin/python3", os.path.join(HERE, "xapian_py_index.py"), a.input, db]
    env = dict(os.environ, XAPIAN_FLUSH_THRESHOLD=str(a.xapian_flush))
    peerlib.warm([a.input])
    timing = peerlib.run_timed(cmd, a.timeout, log_path=os.path.join(work, "index.log"),
                               env=env)
    rec = peerlib.result_record(
        "xapian-py", a.input, docs, db, cmd, timing,
        settings={"stemmer": "none", "positions": "none (index_text_without_positions)",
                  "XAPIAN_FLUSH_THRESHOLD": str(a.xapian_flush), "backend": "glass",
                  "note": "timed run includes JSON parsing in Python"})
    if rec["ok"]:
        rec["docs_indexed"] = peerlib.count_docs("xapian:" + db)
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True, help="JSONL corpus")
    ap.add_argument("--workdir", required=True, help="scratch directory for the peers")
    ap.add_argument("--json", help="also write all records to this file (JSON array)")
    ap.add_argument("--peers", default="xapian,sphinx",
                    help="comma list from: %s (default xapian,sphinx)" % ",".join(PEERS))
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per peer; the median run (by seconds) is reported")
    ap.add_argument("--timeout", type=int, default=3600,
                    help="seconds one timed index build may take (default 3600)")
    ap.add_argument("--sphinx-mem-limit", default="256M",
                    help="Sphinx indexer mem_limit (default 256M, max 2047M)")
    ap.add_argument("--xapian-flush", type=int, default=10000,
                    help="XAPIAN_FLUSH_THRESHOLD: docs per commit (Xapian default 10000)")
    ap.add_argument("--xapian-compact", action="store_true",
                    help="also report the size after xapian-compact (untimed)")
    ap.add_argument("--keep", action="store_true", help="keep converted inputs")
    a = ap.parse_args()

    a.input = os.path.abspath(a.input)
    if not os.path.isfile(a.input):
        ap.error("no such file: %s" % a.input)
    workdir = os.path.abspath(a.workdir)
    os.makedirs(workdir, exist_ok=True)
    peers = [p.strip() for p in a.peers.split(",") if p.strip()]
    for p in peers:
        if p not in PEERS:
            ap.error("unknown peer %r (known: %s)" % (p, ", ".join(PEERS)))

    records = []
    failed = False
    for name in peers:
        why = missing_reason(name)
        if why:
            sys.stderr.write("run_peers: skipping %s: %s\n" % (name, why))
            rec = {"tool": name, "ok": False, "skipped": why}
        else:
            runs = []
            for i in range(max(1, a.repeat)):
                sys.stderr.write("run_peers: %s run %d/%d on %s\n"
                                 % (name, i + 1, a.repeat, a.input))
                r = run_xapian_py(a, workdir) if name == "xapian-py" else \
                    run_script_peer(name, a, workdir)
                runs.append(r)
                if not r.get("ok"):
                    break
            good = [r for r in runs if r.get("ok")]
            if len(good) == len(runs):
                good.sort(key=lambda r: r["seconds"])
                rec = good[len(good) // 2]
                if len(runs) > 1:
                    rec["all_seconds"] = [r["seconds"] for r in runs]
            else:
                rec = runs[-1]
                failed = True
                sys.stderr.write("run_peers: %s failed: %s\n"
                                 % (name, rec.get("error", "unknown error")))
            if rec.get("ok") and rec.get("docs_indexed") not in (None, rec.get("docs")):
                rec["warning"] = "index holds %s documents, input has %s" % (
                    rec["docs_indexed"], rec["docs"])
                sys.stderr.write("run_peers: %s: %s\n" % (name, rec["warning"]))
        records.append(rec)
        print(json.dumps(rec), flush=True)

    if a.json:
        with open(a.json, "w") as f:
            json.dump(records, f, indent=1)
            f.write("\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
