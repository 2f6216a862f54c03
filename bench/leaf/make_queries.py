#!/usr/bin/python3
"""Writes a benchmark query file for one index: `class<TAB>query` per line.

Terms are drawn from the index's own vocabulary (`sgs-index inspect
--dump-terms`), so every engine sees words that exist: ASCII-letter terms
only (so peers with other tokenizers index them identically), ranked by
document frequency, skipping the SKIP most frequent (stop-word-like) and
drawing uniformly from the next POOL. Classes, N queries each:

  and2 and3   a b / a b c              (AND)
  or2  or3    a OR b / a OR b OR c     (OR)
  not2 not3   a -b / a b -c            (AND NOT)
  term        a                        (one term; drawn last, so the other
                                        classes stay as they were without it)

usage: make_queries.py INDEX_DIR OUT [--per-class N] [--seed S] [--pool P] [--skip K]
"""
import argparse
import json
import os
import random
import subprocess
import sys


def vocabulary(index_dir, build):
    """(term, global_df) of every ASCII-letter term, most frequent first."""
    out = subprocess.run([os.path.join(build, "sgs-index"), "inspect", index_dir,
                          "--dump-terms"], check=True, capture_output=True, text=True).stdout
    df = {}
    for line in out.splitlines():
        rec = json.loads(line)
        t = rec["term"]
        if t.isascii() and t.isalpha() and len(t) >= 2:
            df[t] = rec["global_df"]
    return sorted(df.items(), key=lambda kv: (-kv[1], kv[0]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("index_dir")
    ap.add_argument("out")
    ap.add_argument("--per-class", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pool", type=int, default=5000)
    ap.add_argument("--skip", type=int, default=50)
    ap.add_argument("--build", default=os.environ.get("SGS_BUILD", "build/release"))
    a = ap.parse_args()

    vocab = vocabulary(a.index_dir, a.build)
    pool = [t for t, _ in vocab[a.skip:a.skip + a.pool]]
    if len(pool) < 10:
        sys.exit(f"make_queries: only {len(pool)} usable terms in {a.index_dir}")
    rng = random.Random(a.seed)
    forms = {
        "and2": (2, lambda t: f"{t[0]} {t[1]}"),
        "and3": (3, lambda t: f"{t[0]} {t[1]} {t[2]}"),
        "or2": (2, lambda t: f"{t[0]} OR {t[1]}"),
        "or3": (3, lambda t: f"{t[0]} OR {t[1]} OR {t[2]}"),
        "not2": (2, lambda t: f"{t[0]} -{t[1]}"),
        "not3": (3, lambda t: f"{t[0]} {t[1]} -{t[2]}"),
        "term": (1, lambda t: t[0]),
    }
    with open(a.out, "w") as f:
        for cls, (n, form) in forms.items():
            for _ in range(a.per_class):
                f.write(f"{cls}\t{form(rng.sample(pool, n))}\n")


if __name__ == "__main__":
    main()
