"""Differential tests: thousands of seeded random queries (every operator,
nesting, common, rare, missing, Unicode, multi-token and empty words), as
query strings and as JSON trees, sent to a real leaf; each answer (status and
error type, total, hit ids in order, scores within 1e-5 relative, stored
fields) must equal the brute-force reference of tests/lib/sgs.py."""
import pytest

import sgs

K_CHOICES = [0, 1, 3, 10, 10, 10, 50, 1000]


def run_queries(corpus, leaf, seed, n, form, shards=1, shard=0, max_depth=3):
    gen = sgs.QueryGen(seed, corpus.vocab, max_depth=max_depth)
    failures, valid = [], 0
    with sgs.Http(leaf.url) as h:
        for i in range(n):
            raw = gen.query()
            k = gen.rng.choice(K_CHOICES)
            q = gen.as_string(raw) if form == "q" else gen.as_json(raw)
            want = sgs.expected(q)
            valid += not isinstance(want, sgs.QueryError)
            resp = h.post("/v1/shard/search", json_body={form: q, "k": k})
            why = sgs.check_search(corpus.ref, resp, want, k, shards, shard)
            if why:
                failures.append("query %d %s=%r k=%d: %s" % (i, form, q, k, why))
    assert not failures, "%d of %d queries differ (SGS_TEST_SEED=%d):\n%s" % (
        len(failures), n, seed, "\n".join(failures[:10]))
    # the generator mostly makes valid queries, so the comparison has teeth
    assert valid > n * 0.7


@pytest.mark.parametrize("form", ["q", "query"])
def test_synthetic_corpus_matches_reference(synth, synth_leaf, seed, form):
    run_queries(synth, synth_leaf, seed, 700, form)


@pytest.mark.parametrize("form", ["q", "query"])
def test_gcide_sample_matches_reference(gcide, gcide_leaf, seed, form):
    run_queries(gcide, gcide_leaf, seed + 1, 500, form)


def test_deeper_queries_match_reference(synth, synth_leaf, seed):
    run_queries(synth, synth_leaf, seed + 2, 300, "q", max_depth=5)


def test_each_shard_of_a_three_shard_build_matches_reference(synth, synth_leaves3, seed):
    for s, leaf in enumerate(synth_leaves3):
        run_queries(synth, leaf, seed + 10 + s, 200, "q" if s % 2 else "query", shards=3, shard=s)


def test_hand_written_queries(synth, synth_leaf):
    """Precedence and drop-out cases spelled out, on the common terms."""
    a, b, c = synth.vocab[:3]
    qs = [f"{a} {b} OR {c}", f"{a} OR {b} {c}", f"{a} -{b} OR {c}", f"-{a} {b}",
          f"NOT ({a} {b}) {c}", f"({a} {b}) OR {c}", f"{a} OR !!!", f"{a} -!!!", f"{a} (!!!)",
          f"{a} - {b}", f"--{a} {b}", f"{a}({b}){c}", f"{a.upper()} or {b}", f"{a} -OR",
          f"{a} {a} {a}", f"x -({a} OR {b})", "co-op", "CAFÉ", "日本語 OR мир", "e=mc²",
          f"{a} NOT NOT {b}", f"(({a}))", "-a", "!!!", "", "()", f"{a} OR", f"({a}", f"{a})"]
    failures = []
    with sgs.Http(synth_leaf.url) as h:
        for q in qs:
            for k in (0, 10):
                resp = h.post("/v1/shard/search", json_body={"q": q, "k": k})
                why = sgs.check_search(synth.ref, resp, sgs.expected(q), k)
                if why:
                    failures.append("q=%r k=%d: %s" % (q, k, why))
    assert not failures, "\n".join(failures)


def test_default_k_is_ten(synth, synth_leaf):
    q = synth.vocab[0]
    resp = sgs.Http(synth_leaf.url).post("/v1/shard/search", json_body={"q": q})
    assert resp.status == 200
    total, hits, _ = synth.ref.search(sgs.parse_query(q), 10)
    assert total > 10 and len(resp.json["hits"]) == 10
    assert [h["id"] for h in resp.json["hits"]] == [h[0] for h in hits]
