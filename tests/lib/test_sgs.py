"""The reference in sgs.py checked on hand-made cases: tokenizer, shard
assignment, query-string parsing and precedence, JSON trees, normalization,
evaluation and BM25 numbers computed by hand."""
import math

import pytest

import sgs
from sgs import QueryError, Reference, parse_query, query_from_json

T = lambda t: ("term", t)  # noqa: E731


def test_tokenizer_cases():
    assert sgs.tokenize("Hello, WORLD! e-mail x86-64") == ["hello", "world", "e", "mail", "x86", "64"]
    assert sgs.tokenize("Straße İstanbul ǅemal 日本語") == ["straße", "istanbul", "ǆemal", "日本語"]
    assert sgs.tokenize("!!! ... —") == []
    assert sgs.tokenize("z" * 256 + " a " + "y" * 255) == ["a", "y" * 255]


def test_jump_hash_known_values():
    assert sgs.jump_hash(0, 1) == 0
    for k in range(200):
        b = sgs.jump_hash(k * 7919, 8)
        assert 0 <= b < 8
        # growing the bucket count only ever moves a key to the new bucket
        b9 = sgs.jump_hash(k * 7919, 9)
        assert b9 in (b, 8)


@pytest.mark.parametrize("q,tree", [
    ("a", T("a")),
    ("a b", ("and", [T("a"), T("b")])),
    ("a b OR c", ("and", [T("a"), ("or", [T("b"), T("c")])])),
    ("a OR b c", ("and", [("or", [T("a"), T("b")]), T("c")])),
    ("a OR b OR c", ("or", [T("a"), T("b"), T("c")])),
    ("a -b OR c", ("and", [T("a"), ("or", [("not", T("b")), T("c")])])),
    ("-a b", ("and", [("not", T("a")), T("b")])),
    ("NOT (a b) c", ("and", [("not", ("and", [T("a"), T("b")])), T("c")])),
    ("(a b) OR c", ("or", [("and", [T("a"), T("b")]), T("c")])),
    ("a (b c)", ("and", [T("a"), T("b"), T("c")])),
    ("a OR (b OR c)", ("or", [T("a"), T("b"), T("c")])),
    ("a(b)c", ("and", [T("a"), T("b"), T("c")])),
    ("E-Mail", ("and", [T("e"), T("mail")])),
    ("a OR !!!", T("a")),
    ("a -!!!", T("a")),
    ("a (!!!)", T("a")),
    ("a - b", ("and", [T("a"), T("b")])),
    ("--dog cat", ("and", [T("dog"), T("cat")])),
    ("a -OR", ("and", [T("a"), ("not", T("or"))])),
    ("or not ORANGE NOTE", ("and", [T("or"), T("not"), T("orange"), T("note")])),
    ("x -(a OR b)", ("and", [T("x"), ("not", ("or", [T("a"), T("b")]))])),
    ("NOT NOT a", T("a")),
    ("a a", ("and", [T("a"), T("a")])),
    ("Café", T("café")),
])
def test_query_string_parses(q, tree):
    assert parse_query(q) == tree


@pytest.mark.parametrize("q,type_", [
    ("", "invalid_query"), ("!!!", "invalid_query"), ("-cat", "invalid_query"),
    ("NOT cat", "invalid_query"), ("-(a OR b)", "invalid_query"), ("cat OR", "invalid_query"),
    ("OR cat", "invalid_query"), ("a OR OR b", "invalid_query"), ("cat NOT", "invalid_query"),
    ("(cat", "invalid_query"), ("cat)", "invalid_query"), ("()", "invalid_query"),
    ("a " * 65, "too_many_terms"), ("x" * 4097, "query_too_long"),
])
def test_query_string_errors(q, type_):
    with pytest.raises(QueryError) as e:
        parse_query(q)
    assert e.value.type == type_


def test_json_tree():
    assert query_from_json({"and": [{"term": "Rust"}, {"or": [{"term": "a"}, {"term": "b"}]},
                                    {"not": {"term": "java"}}]}) == \
        ("and", [T("rust"), ("or", [T("a"), T("b")]), ("not", T("java"))])
    assert query_from_json({"term": "a OR b"}) == ("and", [T("a"), T("or"), T("b")])
    assert query_from_json({"or": [{"term": "a"}, {"term": "!!!"}]}) == T("a")
    for bad in [{"and": []}, {"term": 1}, {"phrase": "a"}, {"term": "a", "and": []}, [],
                {"not": {"term": "a"}}]:
        with pytest.raises(QueryError):
            query_from_json(bad)


def test_positive_terms_sorted_by_bytes_and_distinct():
    t = parse_query("b a -c b (z OR -y) É")
    assert sgs.positive_terms(t) == ["a", "b", "z", "é"]


def test_evaluation_and_bm25_by_hand():
    docs = [{"id": "d1", "title": "apple banana", "body": "apple"},
            {"id": "d2", "title": "banana", "body": "cherry cherry"},
            {"id": "d0", "body": "apple cherry"},
            {"id": "d3", "title": "date"}]
    ref = Reference(docs)
    assert ref.n == 4 and ref.avg_len == (3 + 3 + 2 + 1) / 4
    total, hits, _ = ref.search(parse_query("apple"), k=10)
    assert total == 2
    idf = math.log(1 + (4 - 2 + 0.5) / (2 + 0.5))
    def bm(tf, ln):
        return idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * ln / 2.25))
    assert [h[0] for h in hits] == ["d1", "d0"]
    assert hits[0][1] == pytest.approx(bm(2, 3)) and hits[1][1] == pytest.approx(bm(1, 2))
    assert hits[0][2] == {"title": "apple banana"} and hits[1][2] == {}
    # NOT filters without scoring; OR unions.
    total, hits, _ = ref.search(parse_query("banana -cherry"))
    assert total == 1 and hits[0][0] == "d1"
    total, hits, _ = ref.search(parse_query("date OR cherry"))
    assert total == 3
    total, hits, _ = ref.search(parse_query("apple -apple OR date"))
    assert total == 0


def test_ties_break_on_id_bytes():
    docs = [{"id": i, "title": "same"} for i in ["b", "a", "é", "ab", "B"]]
    _, hits, _ = Reference(docs).search(parse_query("same"), k=10)
    assert [h[0] for h in hits] == ["B", "a", "ab", "b", "é"]


def test_shard_restriction_keeps_global_stats():
    docs = sgs.synthetic_docs(1, 300)
    ref = Reference(docs)
    q = parse_query("w1 OR w2")
    total, hits, scores = ref.search(q, k=1000)
    parts = [ref.search(q, k=1000, shards=3, shard=s) for s in range(3)]
    assert sum(p[0] for p in parts) == total
    merged = sgs.merge_shard_answers([(p[0], p[1]) for p in parts], 1000)
    assert merged[1] == hits


def test_hits_match_detects_differences():
    want = [("a", 2.0, {}), ("b", 1.0, {})]
    scores = {"a": 2.0, "b": 1.0}
    assert sgs.hits_match(want, want, scores) is None
    assert sgs.hits_match(want[::-1], want, scores) is not None
    assert sgs.hits_match([("a", 2.1, {}), ("b", 1.0, {})], want, scores) is not None
    assert sgs.hits_match([("a", 2.0, {"x": 1}), ("b", 1.0, {})], want, scores) is not None
    assert sgs.hits_match(want[:1], want, scores) is not None


def test_generator_string_and_json_agree(seed):
    """With every needed parenthesis kept, the query string and the JSON tree
    rendered from one raw tree normalize to the same tree, and the generator
    reaches every operator."""
    gen = sgs.QueryGen(seed, ["w%d" % i for i in range(50)], loose=0.0)
    kinds, valid = set(), 0
    for _ in range(2000):
        raw = gen.query()
        try:
            tj = query_from_json(gen.as_json(raw))
        except QueryError as e:
            with pytest.raises(QueryError) as e2:
                parse_query(gen.as_string(raw))
            assert e2.value.type == e.type
            continue
        valid += 1
        s = gen.as_string(raw)
        assert parse_query(s) == tj, s
        kinds.update(k for k in ("and", "or", "not") if "'%s'" % k in repr(tj))
    assert kinds == {"and", "or", "not"} and valid > 1000
