"""Sharded equals single: the same corpus built with 1, 3 and 8 shards;
seeded random queries (words, OR, NOT, parentheses, Unicode, words that
drop out) sent through sgs-root, as GET /search?q=, POST /search with q and
POST /search with a JSON query tree, with k and offset, give what one
unsharded leaf answers directly: same ids in the same order, the same
total with relation "eq", scores within 1e-5 relative, and the same error
type when the query is bad. Every hit names the shard its id hashes to."""
import collections
import os

import pytest

import sgs
from cluster_conftest import SAN, Client, build_index, shard_of, test_seed, tokenize, vocab_docs

QUERIES = 120 if SAN else 400


def _corpus(kind, tmp_path, seed):
    if kind == "synthetic":
        return vocab_docs(seed, 1500, vocab=80) + sgs.synthetic_docs(seed + 1, 300)
    docs = sgs.gcide_docs(os.path.join(str(tmp_path), "gcide.jsonl"), 3000)
    if docs is None:
        pytest.skip("dict-gcide is not installed (%s missing)" % sgs.GCIDE_INDEX)
    return docs


def _vocab(docs):
    counts = collections.Counter()
    for d in docs:
        for f in ("title", "body"):
            if isinstance(d.get(f), str):
                counts.update(tokenize(d[f]))
    return [w for w, _ in counts.most_common(400)]


def _same_hits(got, want, what):
    """got and want: [(id, score)]; ids and order equal, scores within 1e-5
    relative; two neighbours may swap only when their scores are equal."""
    assert len(got) == len(want), (what, got, want)
    for (gid, gs), (wid, ws) in zip(got, want):
        assert abs(gs - ws) <= 1e-5 * max(abs(ws), 1e-12), (what, "score", got, want)
        if gid != wid:
            assert abs(gs - ws) <= 1e-9 * max(abs(ws), 1e-12), (what, "order", got, want)


@pytest.mark.parametrize("kind", ["synthetic", "gcide"])
def test_sharded_root_answers_equal_one_unsharded_leaf(kind, tmp_path, cluster):
    seed = test_seed()
    docs = _corpus(kind, tmp_path, seed)
    single_idx = build_index(docs, tmp_path / "one", 1)
    single = cluster.leaf(single_idx, 0)
    roots = {}
    for n in (1, 3, 8):
        idx = single_idx if n == 1 else build_index(docs, tmp_path / ("s%d" % n), n)
        roots[n] = cluster.root({s: [cluster.leaf(idx, s)] for s in range(n)})
    leaf_c = Client(single.port)
    root_c = {n: Client(r.port) for n, r in roots.items()}
    gen = sgs.QueryGen(seed, _vocab(docs))
    forms = collections.Counter()
    nonempty = 0
    for i in range(QUERIES):
        raw = gen.query()
        form = gen.rng.choice(["get", "post_q", "post_tree"])
        k = gen.rng.choice([0, 1, 3, 10, 10, 50])
        offset = 0 if form == "get" else gen.rng.choice([0, 0, 0, 2, 7])
        if form == "post_tree":
            body = {"query": gen.as_json(raw)}
        else:
            body = {"q": gen.as_string(raw)}
        want = leaf_c.post("/v1/shard/search", json_body=dict(body, k=k + offset),
                           headers={"Accept": "application/json"})
        assert want.status in (200, 400), (body, want)
        what = "query %d (%s, k=%d, offset=%d): %r" % (i, form, k, offset, body)
        for n, c in root_c.items():
            if form == "get":
                got = c.search_get(body["q"], k=k)
            else:
                params = dict(body, k=k)
                if offset:
                    params["offset"] = offset
                got = c.post("/search", json_body=params)
            if want.status == 400:
                assert got.status == 400, (what, n, got)
                assert got.json["error"]["type"] == want.json["error"]["type"], (what, n, got)
                continue
            assert got.status == 200, (what, n, got)
            a = got.json
            assert a["total"] == {"value": want.json["total"], "relation": "eq"}, (what, n, a)
            assert a["partial"] is False and a["timed_out"] is False, (what, n, a)
            assert a["shards"]["total"] == n and a["shards"]["successful"] == n, (what, n, a)
            expect = [(h["id"], h["score"]) for h in want.json["hits"]][offset:offset + k]
            _same_hits([(h["id"], h["score"]) for h in a["hits"]], expect, (what, n))
            for h in a["hits"]:
                assert h["shard"] == shard_of(h["id"], n), (what, n, h)
        forms[form] += 1
        nonempty += want.status == 200 and want.json["total"] > 0
    print("queries by form: %s; %d matched something" % (dict(forms), nonempty))
    assert nonempty >= QUERIES // 4, "the generator hardly matches anything"
