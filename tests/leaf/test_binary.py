"""The binary protocol of common/wire.h, built and decoded here from its byte
table: binary requests get binary answers equal to the JSON answers; a JSON
Accept header turns them to JSON; bad magic, version, truncation, trailing
bytes and non-normalized trees are 400s with the right error type."""
import json
import struct

import pytest

import sgs

CT = "application/x-sgs-v1"
KIND = {"term": 1, "and": 2, "or": 3, "not": 4}


def enc_tree(node):
    k = node[0]
    if k == "term":
        b = node[1].encode()
        return struct.pack("<BB", 1, len(b)) + b
    if k == "not":
        return struct.pack("<B", 4) + enc_tree(node[1])
    return struct.pack("<BH", KIND[k], len(node[1])) + b"".join(enc_tree(c) for c in node[1])


def enc_request(tree, k=10, deadline_ms=0, magic=b"SGSQ", version=1, flags=0):
    return magic + struct.pack("<HHII", version, flags, k, deadline_ms) + enc_tree(tree)


def dec_response(body):
    assert body[:4] == b"SGSR", body[:40]
    version, flags, shard, n_hits, generation, total, took_us, reserved = \
        struct.unpack_from("<HHIIQQII", body, 4)
    assert (version, flags, reserved) == (1, 0, 0)
    off, hits = 40, []
    for _ in range(n_hits):
        score, id_len, fields_len = struct.unpack_from("<dII", body, off)
        off += 16
        doc_id = body[off:off + id_len].decode()
        off += id_len
        fields = json.loads(body[off:off + fields_len])
        off += fields_len
        hits.append((doc_id, score, fields))
    assert off == len(body), "bytes after the last hit"
    return {"shard": shard, "generation": generation, "total": total, "hits": hits,
            "took_us": took_us}


def post_bin(h, body, accept=None):
    headers = {"Content-Type": CT}
    if accept:
        headers["Accept"] = accept
    return h.post("/v1/shard/search", body=body, headers=headers)


def test_binary_answers_equal_json_answers(synth, synth_leaves3, seed):
    gen = sgs.QueryGen(seed + 200, synth.vocab)
    leaf = synth_leaves3[1]
    h = sgs.Http(leaf.url)
    done = 0
    while done < 300:
        want = sgs.expected(gen.as_json(gen.query()))
        if isinstance(want, sgs.QueryError):
            continue
        done += 1
        k = gen.rng.choice([0, 1, 10, 100])
        rb = post_bin(h, enc_request(want, k))
        assert rb.status == 200, rb
        assert rb.headers.get("content-type", "").startswith(CT)
        b = dec_response(rb.body)
        rj = h.post("/v1/shard/search", json_body={"query": sgs.tree_to_json(want), "k": k})
        assert rj.status == 200, rj
        j = rj.json
        assert b["shard"] == j["shard"] == 1
        assert "%016x" % b["generation"] == j["generation"]
        assert b["total"] == j["total"]
        # one leaf, one generation: the same hits, scores equal to the JSON digits
        assert [(i, f) for i, _, f in b["hits"]] == [(x["id"], x["fields"]) for x in j["hits"]]
        assert all(sgs.close(bh[1], x["score"], 1e-12) for bh, x in zip(b["hits"], j["hits"]))
        why = sgs.check_search(synth.ref, rj, want, k, 3, 1)
        assert why is None, why


def test_binary_request_with_json_accept_gets_json(synth, synth_leaf):
    tree = ("term", synth.vocab[0])
    r = post_bin(sgs.Http(synth_leaf.url), enc_request(tree, 5), accept="application/json")
    assert r.status == 200 and r.headers["content-type"].startswith("application/json")
    assert sgs.check_search(synth.ref, r, tree, 5) is None


def test_generation_in_binary_matches_manifest(synth, synth_leaf):
    r = post_bin(sgs.Http(synth_leaf.url), enc_request(("term", synth.vocab[0])))
    gen_hex = sgs.manifest(synth.index(1))["generation"]
    assert dec_response(r.body)["generation"] == int(gen_hex, 16)


T = ("term", "w1")


@pytest.mark.parametrize("body,type_", [
    (enc_request(T, magic=b"XXXX"), "protocol_mismatch"),
    (enc_request(T, version=2), "protocol_mismatch"),
    (enc_request(T, version=0), "protocol_mismatch"),
    (b"SGSQ\x01", None),
    (b"", None),
    (enc_request(T)[:-1], None),
    (enc_request(T) + b"\x00", None),
    (enc_request(T, flags=1), None),
    (enc_request(T, k=10001), "k_too_large"),
    (enc_request(T, k=0xFFFFFFFF), "k_too_large"),
    (b"SGSQ" + struct.pack("<HHII", 1, 0, 10, 0) + b"\x09\x01a", None),  # unknown kind
    (b"SGSQ" + struct.pack("<HHII", 1, 0, 10, 0) + b"\x01\x00", None),  # empty term
    (enc_request(("and", [T])), None),  # one child: not normalized
    (enc_request(("and", [T, ("and", [T, T])])), None),  # nested AND
    (enc_request(("not", ("not", T))), None),  # NOT NOT
    (enc_request(("not", T)), "invalid_query"),  # no positive term
    (enc_request(("term", "W1")), None),  # not a token as the tokenizer emits it
    (b"SGSQ" + struct.pack("<HHII", 1, 0, 10, 0) + b"\x01\x02\xff\xfe", None),  # bad UTF-8
    (b"SGSQ" + struct.pack("<HHII", 1, 0, 10, 0) + b"\x02\xff\xff\x01\x01a", None),  # n too big
])
def test_bad_binary_requests(synth_leaf, body, type_):
    h = sgs.Http(synth_leaf.url)
    r = post_bin(h, body)
    assert 400 <= r.status < 500, r
    assert r.headers["content-type"].startswith("application/json")
    err = r.json["error"]
    assert set(err) == {"type", "reason"} and err["reason"]
    if type_:
        assert err["type"] == type_, err
    else:
        assert err["type"] in ("bad_request", "invalid_query", "protocol_mismatch",
                               "too_many_terms"), err
    # still serving, on the same connection
    ok = post_bin(h, enc_request(T))
    assert ok.status == 200
