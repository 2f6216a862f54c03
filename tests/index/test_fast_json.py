"""sgs-index reads JSON on two paths: an in-place scanner for flat objects of
strings, and jansson for everything else. Both must build the same index
and report the same bad lines. These tests build seeded corpora of tricky
lines (escapes, duplicate keys, nulls, numbers, nesting, broken JSON) both
ways (SGS_INDEX_JSON=jansson turns the scanner off) and compare the output
byte for byte."""
import json
import os
import random

from index_lib import build, summary

ENV = {"SOURCE_DATE_EPOCH": "1700000000"}

WORDS = ["alpha", "Beta", "gamma", "d\u00e9lta", "\u00c9psilon", "zeta9", "42", "\u03c9mega",
         "x", "yy"]
# Pieces of JSON string contents, raw as they appear between the quotes.
PIECES = ['\\"', "\\\\", "\\/", "\\n", "\\t", "\\r", "\\b", "\\f", "\\u00e9", "\\u0041",
          "\\ud83d\\ude00", "/", " ", ", ", "-", "\u00e9", "\u2028", "\x7f", "\\u0000", "\\q",
          "\t"]


def rand_string(rng):
    parts = []
    for _ in range(rng.randrange(0, 8)):
        if rng.random() < 0.25:
            parts.append(rng.choice(PIECES))
        else:
            parts.append(rng.choice(WORDS))
        parts.append(" ")
    return '"' + "".join(parts) + '"'


def rand_value(rng, depth=0):
    r = rng.random()
    if r < 0.6:
        return rand_string(rng)
    if r < 0.68:
        return rng.choice(["null", "true", "false"])
    if r < 0.76:
        return rng.choice(["1", "-2.5e3", "0", "123456789012345678901234567890", "1e999"])
    if r < 0.84 and depth < 2:
        return "[" + ",".join(rand_value(rng, depth + 1) for _ in range(rng.randrange(3))) + "]"
    if depth < 2:
        return "{" + ",".join('"k%d":%s' % (i, rand_value(rng, depth + 1))
                              for i in range(rng.randrange(3))) + "}"
    return rand_string(rng)


def rand_line(rng, n):
    fields = []
    keys = ["id", "title", "body", "extra", "ti\\u0074le", "id"]
    if rng.random() < 0.9:
        ident = rng.choice(['"d%d"' % n, '"d%d"' % (n // 2), '""', '"d\\/%d"' % n,
                            '"d\\u00e9%d"' % n, "%d" % n, '"%s"' % ("i" * 1100)])
        if rng.random() < 0.8:
            ident = '"d%d"' % n
        fields.append('"id":' + ident)
    for _ in range(rng.randrange(1, 5)):
        fields.append('"%s":%s' % (rng.choice(keys), rand_value(rng)))
    rng.shuffle(fields)
    ws = rng.choice(["", " ", "\t", "  "])
    line = "{" + ws + ("," + ws).join(f.replace(":", ws + ":" + ws, 1) for f in fields) + ws + "}"
    r = rng.random()
    if r < 0.03:
        line += " x"
    elif r < 0.06:
        line = line[:-1]
    elif r < 0.08:
        line = "[" + line + "]"
    elif r < 0.10:
        line = line.replace(",", ",,", 1)
    elif r < 0.12:
        line = ws + line + ws + "\r"
    return line


def bad_lines(stderr):
    # One JSON log record a line; only "\n" ends one (str.splitlines would also cut at a raw
    # U+2028 or U+0085, which JSON allows inside a string and a document id may hold).
    return [json.loads(ln)["msg"] for ln in stderr.split("\n") if '"bad_line"' in ln]


def read_tree(d):
    return {name: open(os.path.join(d, name), "rb").read() for name in sorted(os.listdir(d))}


def both_ways(tmp_path, lines, *extra):
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_bytes(("\n".join(lines) + "\n").encode())
    out = {}
    for mode in ("fast", "jansson"):
        env = dict(ENV)
        if mode == "jansson":
            env["SGS_INDEX_JSON"] = "jansson"
        r = build(jsonl, tmp_path / mode, 2, "--generation", "5", "--threads", "2", *extra,
                  env=env)
        out[mode] = (read_tree(tmp_path / mode), summary(r), r.stderr)
    return out


def test_tricky_lines_build_the_same_index_both_ways(tmp_path, seed):
    rng = random.Random(seed)
    lines = [rand_line(rng, n) for n in range(3000)]
    out = both_ways(tmp_path, lines, "--store-fields", "title,extra,id")
    fast, slow = out["fast"], out["jansson"]
    # The corpus really has both kinds of lines: some accepted, some rejected.
    assert 0 < fast[1]["rejected"] < fast[1]["lines"], fast[1]
    assert fast[0] == slow[0]
    for key in ("docs", "terms", "postings", "tokens", "lines", "rejected", "rejected_by_reason"):
        assert fast[1][key] == slow[1][key], key
    assert bad_lines(fast[2]) and bad_lines(fast[2]) == bad_lines(slow[2])


def test_stored_fields_are_jansson_s_serialization(tmp_path):
    """Escapes survive into the stored fields as jansson prints them ("\\/"
    becomes "/"), null and booleans are stored, a repeated key keeps its
    last value."""
    lines = [
        '{"id":"a","title":"x \\"q\\" \\\\ \\/ \\n\\t end","body":"w"}',
        '{"id":"b","title":null,"body":"w"}',
        '{"id":"c","title":true,"body":"w","title":"last"}',
        '{"id":"d","body":"w \\u00e9"}',
        '{"id":"e","title":"\u00e9\u2028\x7f","body":"w"}',
        json.dumps({"id": "f", "title": "p/q", "body": "w"}),
    ]
    out = both_ways(tmp_path, lines)
    assert out["fast"][0] == out["jansson"][0]
    assert out["fast"][1]["docs"] == 6
