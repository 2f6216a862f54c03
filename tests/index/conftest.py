"""Shared helpers for the indexer tests: they run the real sgs-index binary
on corpora the tests write, and compare its output to references computed
here, independently of the C code."""
import ctypes
import json
import os
import random
import subprocess
import unicodedata

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("SGS_BUILD", "build/release"))
SGS_INDEX = os.path.join(BUILD, "sgs-index")
SGS_SYNTH = os.path.join(BUILD, "sgs-synth")
GCIDE2JSONL = os.path.join(ROOT, "index-tools", "corpora", "gcide2jsonl.py")

_xxhash = ctypes.CDLL("libxxhash.so.0")
_xxhash.XXH3_64bits.restype = ctypes.c_uint64
_xxhash.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def test_seed():
    """The seed of this run's random tests: SGS_TEST_SEED or a fresh one, printed."""
    seed = int(os.environ.get("SGS_TEST_SEED", random.randrange(1 << 31)))
    print(f"SGS_TEST_SEED={seed}")
    return seed


def xxh3_64(data: bytes) -> int:
    return _xxhash.XXH3_64bits(data, len(data))


def jump_hash(key: int, buckets: int) -> int:
    """Lamping & Veach, 'A Fast, Minimal Memory, Consistent Hash Algorithm'."""
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & 0xFFFFFFFFFFFFFFFF
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def shard_of(doc_id: str, shards: int) -> int:
    return jump_hash(xxh3_64(doc_id.encode()), shards)


def _simple_lower(c: str) -> str:
    if c == "\u0130":  # the one letter whose full lowercase mapping differs in length
        return "i"
    low = c.lower()
    return low if len(low) == 1 else c


def tokenize(text: str):
    """Maximal runs of L* and N* code points, simple-lowercased; tokens over
    255 UTF-8 bytes are dropped."""
    out, cur = [], []
    for c in text + " ":
        if unicodedata.category(c)[0] in "LN":
            cur.append(_simple_lower(c))
        elif cur:
            tok = "".join(cur)
            if len(tok.encode()) <= 255:
                out.append(tok)
            cur = []
    return out


def reference_index(docs, shards, text_fields=("title", "body")):
    """Per document (id -> (shard, length)) and per term (term -> global df,
    {shard: shard df}) computed from parsed documents."""
    doc_info, df, shard_df = {}, {}, {}
    for d in docs:
        toks = []
        for f in text_fields:
            v = d.get(f)
            if isinstance(v, str):
                toks.extend(tokenize(v))
        s = shard_of(d["id"], shards)
        doc_info[d["id"]] = (s, len(toks))
        for t in set(toks):
            df[t] = df.get(t, 0) + 1
            shard_df.setdefault(t, {}).setdefault(s, 0)
            shard_df[t][s] += 1
    return doc_info, df, shard_df


def run(args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 600)
    return subprocess.run(args, **kw)


def build(inputs, out, shards, *extra, check=True, env=None):
    args = [SGS_INDEX, "build", "--shards", str(shards), "--out", str(out), "--quiet=false"]
    for i in inputs if isinstance(inputs, (list, tuple)) else [inputs]:
        args += ["--input", str(i)]
    args += list(extra)
    full_env = dict(os.environ)
    full_env.update(env or {})
    r = run(args, env=full_env)
    if check:
        assert r.returncode == 0, f"build failed: {r.stderr}"
    return r


def summary(result):
    """The JSON summary line a successful build prints on stdout."""
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no summary in {result.stdout!r}"
    return json.loads(lines[-1])


def write_jsonl(path, docs):
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")


def dump(index_dir, what):
    r = run([SGS_INDEX, "inspect", str(index_dir), f"--dump-{what}"])
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


WORDS = ["alpha", "Beta", "gamma", "delta", "épée", "CAFÉ", "naïve", "straße", "ΩMEGA", "日本語",
         "x86", "42", "Ünïcödé", "İstanbul", "ǅemal", "crème", "brûlée", "über", "ŁÓDŹ", "мир",
         "Привет", "١٢٣", "ⅻ", "½", "a1b2", "e=mc²", "don't", "foo_bar", "co-op", "a.b.c"]


def synthetic_docs(seed, n):
    """Documents with Unicode, case, punctuation, numbers, extra and missing
    fields, and over-long tokens, so the tokenizer's edge cases are exercised."""
    rng = random.Random(seed)
    vocab = WORDS + ["w%d" % i for i in range(400)]
    docs = []
    for i in range(n):
        def words(k):
            return " ".join(rng.choice(vocab) if rng.random() < 0.7 else
                            "w%d" % int(rng.paretovariate(1.0)) for _ in range(k))
        d = {"id": "doc-%d-%s" % (i, rng.choice(["x", "é", "日"]))}
        if rng.random() < 0.9:
            d["title"] = words(rng.randint(1, 6))
        body = words(rng.randint(0, 60))
        if rng.random() < 0.05:
            body += " " + "z" * rng.choice([255, 256, 300]) + " tail"
        if rng.random() < 0.05:
            body += " ..,;!? \t\n"
        d["body"] = body
        if rng.random() < 0.1:
            d["extra"] = {"nested": [1, 2, 3]}
        if not tokenize(d.get("title", "") + " " + d["body"]):
            d["body"] = "filler"
        docs.append(d)
    return docs


@pytest.fixture(scope="session")
def seed():
    return test_seed()
