"""The index agrees, for every term and every document, with a reference
computed here from the raw input: global and per-shard df, each document's
length and shard, and stored fields."""
import json
import os

import pytest

from index_lib import (GCIDE2JSONL, build, dump, reference_index, run, summary,
                      synthetic_docs, write_jsonl)


def check_against_reference(tmp_path, docs, shards, jsonl):
    out = tmp_path / "idx"
    s = summary(build(jsonl, out, shards))
    doc_info, df, shard_df = reference_index(docs, shards)
    assert s["docs"] == len(docs)
    assert s["terms"] == len(df)

    got_docs = dump(out, "docs")
    assert len(got_docs) == len(docs)
    by_id = {d["id"]: d for d in docs}
    next_doc = [0] * shards
    for g in got_docs:
        exp_shard, exp_len = doc_info[g["id"]]
        assert (g["shard"], g["length"]) == (exp_shard, exp_len), g["id"]
        stored = json.loads(g["stored"]) if isinstance(g["stored"], str) else g["stored"]
        want = {"title": by_id[g["id"]]["title"]} if "title" in by_id[g["id"]] else {}
        assert stored == want, g["id"]
    # Doc ids within a shard follow input order.
    order = {d["id"]: i for i, d in enumerate(docs)}
    for sh in range(shards):
        ids = [g for g in got_docs if g["shard"] == sh]
        ids.sort(key=lambda g: g["doc"])
        assert [g["doc"] for g in ids] == list(range(len(ids)))
        assert [order[g["id"]] for g in ids] == sorted(order[g["id"]] for g in ids)
        next_doc[sh] = len(ids)

    got_terms = dump(out, "terms")
    seen = {}
    for t in got_terms:
        seen.setdefault(t["term"], {})[t["shard"]] = t["shard_df"]
        assert t["global_df"] == df[t["term"]], t
    assert seen == shard_df


def test_synthetic_corpus_matches_reference(tmp_path, seed):
    docs = synthetic_docs(seed, 3000)
    jsonl = tmp_path / "synth.jsonl"
    write_jsonl(jsonl, docs)
    check_against_reference(tmp_path, docs, 3, jsonl)


def test_gcide_sample_matches_reference(tmp_path):
    if not os.path.exists("/usr/share/dictd/gcide.index"):
        pytest.skip("dict-gcide is not installed (make deps installs it)")
    jsonl = tmp_path / "gcide.jsonl"
    r = run(["/usr/bin/python3", GCIDE2JSONL, "--limit", "4000", "--out", str(jsonl)])
    assert r.returncode == 0, r.stderr
    docs = [json.loads(line) for line in open(jsonl, encoding="utf-8")]
    assert len(docs) == 4000
    check_against_reference(tmp_path, docs, 4, jsonl)


def test_one_shard_and_many_shards_agree_on_global_stats(tmp_path, seed):
    docs = synthetic_docs(seed + 1, 1500)
    jsonl = tmp_path / "c.jsonl"
    write_jsonl(jsonl, docs)
    build(jsonl, tmp_path / "one", 1)
    build(jsonl, tmp_path / "eight", 8)
    one = {t["term"]: t["global_df"] for t in dump(tmp_path / "one", "terms")}
    eight = {}
    for t in dump(tmp_path / "eight", "terms"):
        eight[t["term"]] = t["global_df"]
    assert one == eight
