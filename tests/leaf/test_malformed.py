"""Malformed requests: each gets its 4xx status and error type in a JSON
{"error": {"type", "reason"}} body, never a 5xx or a crash, and the leaf
keeps answering on the same connection afterwards."""
import json

import pytest

import sgs

BIG = "x" * 70000


def deep_json(n):
    t = {"term": "w1"}
    for _ in range(n):
        t = {"and": [t, {"term": "w2"}]}
    return t


CASES = [
    # (id, raw body or JSON-able object, allowed error types)
    ("truncated-json", b'{"q": "w1"', {"invalid_json"}),
    ("not-json", b"hello", {"invalid_json"}),
    ("empty-body", b"", {"invalid_json", "bad_request"}),
    ("array-body", b"[]", {"bad_request", "invalid_json"}),
    ("string-body", b'"w1"', {"bad_request", "invalid_json"}),
    ("invalid-utf8", b'{"q": "w1 \xff\xfe"}', {"invalid_json", "invalid_query"}),
    ("lone-surrogate", b'{"q": "w1 \\ud800"}', {"invalid_json", "invalid_query"}),
    ("nul-in-string", b'{"q": "w1\\u0000w2"}', None),  # either an answer or a 400
    ("q-wrong-type", {"q": 5}, {"bad_request"}),
    ("q-null", {"q": None}, {"bad_request"}),
    ("k-string", {"q": "w1", "k": "10"}, {"bad_request"}),
    ("k-float", {"q": "w1", "k": 1.5}, {"bad_request"}),
    ("k-negative", {"q": "w1", "k": -1}, {"bad_request", "k_too_large"}),
    ("k-huge", {"q": "w1", "k": 10001}, {"k_too_large"}),
    ("k-enormous", {"q": "w1", "k": 10 ** 30}, {"k_too_large", "bad_request", "invalid_json"}),
    ("k-u32-wrap", {"q": "w1", "k": 2 ** 32 + 5}, {"k_too_large", "bad_request"}),
    ("unknown-key", {"q": "w1", "fields": ["title"]}, {"bad_request"}),
    ("both-q-and-query", {"q": "w1", "query": {"term": "w1"}}, {"bad_request"}),
    ("neither", {"k": 10}, {"bad_request"}),
    ("empty-object", {}, {"bad_request"}),
    ("deadline-negative", {"q": "w1", "deadline_ms": -5}, {"bad_request"}),
    ("deadline-string", {"q": "w1", "deadline_ms": "5"}, {"bad_request"}),
    ("query-string-type", {"query": "w1"}, {"invalid_query"}),
    ("query-empty-and", {"query": {"and": []}}, {"invalid_query"}),
    ("query-unknown-key", {"query": {"phrase": "w1"}}, {"invalid_query"}),
    ("query-two-keys", {"query": {"term": "w1", "not": {"term": "w2"}}}, {"invalid_query"}),
    ("query-term-number", {"query": {"term": 3}}, {"invalid_query"}),
    ("query-and-not-array", {"query": {"and": {"term": "w1"}}}, {"invalid_query"}),
    ("no-positive-term", {"q": "-w1"}, {"invalid_query"}),
    ("no-positive-term-json", {"query": {"not": {"term": "w1"}}}, {"invalid_query"}),
    ("everything-drops", {"q": "!!! ..."}, {"invalid_query"}),
    ("empty-q", {"q": ""}, {"invalid_query"}),
    ("unbalanced", {"q": "(w1 w2"}, {"invalid_query"}),
    ("dangling-or", {"q": "w1 OR"}, {"invalid_query"}),
    ("deep-parens", {"q": "(" * 20 + "w1" + ")" * 20}, {"query_too_deep"}),
    ("deep-nots", {"q": "w2 " + "NOT " * 30 + "w1"}, {"query_too_deep"}),
    ("deep-json", {"query": deep_json(30)}, {"query_too_deep"}),
    ("very-deep-json", b'{"query": ' + b'{"not": ' * 5000 + b'{"term": "w1"}' + b"}" * 5001,
     {"query_too_deep", "invalid_json"}),
    ("thousands-of-terms", {"q": "a " * 1500}, {"too_many_terms"}),
    ("thousands-of-terms-json", {"query": {"or": [{"term": "w%d" % i} for i in range(3000)]}},
     {"too_many_terms"}),
    ("sixty-five-terms", {"q": " ".join("w%d" % i for i in range(65))}, {"too_many_terms"}),
    ("long-query", {"q": "w1 " + "y" * 4100}, {"query_too_long"}),
    ("oversized-body", {"q": "w1", "pad": BIG}, {"body_too_large"}),
]


@pytest.mark.parametrize("body,types", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_search_request(synth_leaf, body, types):
    h = sgs.Http(synth_leaf.url)
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    r = h.post("/v1/shard/search", body=body, headers={"Content-Type": "application/json"})
    assert r.status < 500, r
    if types is None:
        assert r.status in (200, 400), r
    else:
        assert 400 <= r.status < 500, r
        assert r.headers.get("content-type", "").startswith("application/json"), r.headers
        err = r.json["error"]
        assert err["type"] in types, err
        assert isinstance(err["reason"], str) and err["reason"]
    # the leaf still answers, on the same connection when it kept it open
    ok = h.post("/v1/shard/search", json_body={"q": "w1"})
    assert ok.status == 200, ok
    assert sgs.http_get(synth_leaf.url, "/healthz").status == 200


def test_sixty_four_terms_are_allowed(synth, synth_leaf):
    q = " OR ".join(synth.vocab[:64])
    r = sgs.Http(synth_leaf.url).post("/v1/shard/search", json_body={"q": q, "k": 10})
    assert sgs.check_search(synth.ref, r, sgs.parse_query(q), 10) is None


def test_k_at_the_limit_is_allowed(synth, synth_leaf):
    q = synth.vocab[0]
    r = sgs.Http(synth_leaf.url).post("/v1/shard/search", json_body={"q": q, "k": 10000})
    assert sgs.check_search(synth.ref, r, sgs.parse_query(q), 10000) is None


@pytest.mark.parametrize("method,path,status,type_", [
    ("GET", "/v1/shard/search", 405, "method_not_allowed"),
    ("PUT", "/v1/shard/search", 405, "method_not_allowed"),
    ("DELETE", "/readyz", 405, "method_not_allowed"),
    ("POST", "/healthz", 405, "method_not_allowed"),
    ("GET", "/v1/admin/reload", 405, "method_not_allowed"),
    ("GET", "/nope", 404, "not_found"),
    ("POST", "/v1/shard/searchx", 404, "not_found"),
    ("GET", "/", 404, "not_found"),
])
def test_wrong_method_and_unknown_path(synth_leaf, method, path, status, type_):
    h = sgs.Http(synth_leaf.url)
    r = h.request(method, path, body=b"{}" if method in ("POST", "PUT") else None)
    assert r.status == status, r
    assert r.json["error"]["type"] == type_
    assert h.post("/v1/shard/search", json_body={"q": "w1"}).status == 200
