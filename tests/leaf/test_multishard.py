"""One-shard versus three-shard builds of the same corpus: for many queries,
the three leaves' answers merged (totals summed, top-k by score descending
then id bytes ascending) equal the one-shard leaf's answer, because every
shard scores with the corpus-wide statistics."""
import sgs


def test_three_shards_merged_equal_one_shard(synth, synth_leaf, synth_leaves3, seed):
    gen = sgs.QueryGen(seed + 100, synth.vocab)
    one = sgs.Http(synth_leaf.url)
    parts = [sgs.Http(leaf.url) for leaf in synth_leaves3]
    failures, compared = [], 0
    for i in range(400):
        raw = gen.query()
        form = "q" if i % 2 else "query"
        q = gen.as_string(raw) if form == "q" else gen.as_json(raw)
        k = gen.rng.choice([1, 10, 10, 100])
        body = {form: q, "k": k}
        r1 = one.post("/v1/shard/search", json_body=body)
        rs = [p.post("/v1/shard/search", json_body=body) for p in parts]
        if r1.status != 200:
            if any(r.status != r1.status or r.json["error"]["type"] != r1.json["error"]["type"]
                   for r in rs):
                failures.append("%r: one shard %d, three shards %r" % (q, r1.status, rs))
            continue
        if any(r.status != 200 for r in rs):
            failures.append("%r: a shard answered %r" % (q, [r for r in rs if r.status != 200]))
            continue
        compared += 1
        total1, hits1 = sgs.answer_of(r1.json)
        total3, hits3 = sgs.merge_shard_answers([sgs.answer_of(r.json) for r in rs], k)
        if total1 != total3:
            failures.append("%r: total %d one shard, %d summed" % (q, total1, total3))
            continue
        scores = {h[0]: h[1] for r in rs for h in sgs.answer_of(r.json)[1]}
        why = sgs.hits_match(hits3, hits1, scores)
        if why:
            failures.append("%r k=%d: %s" % (q, k, why))
        # the shards' generation is one build's
        gens = {r.json["generation"] for r in rs}
        if len(gens) != 1:
            failures.append("%r: generations %r" % (q, gens))
    assert not failures, "SGS_TEST_SEED=%d\n%s" % (seed, "\n".join(failures[:10]))
    assert compared > 250
