"""Shared helpers for the indexer tests: they run the real sgs-index binary
on corpora the tests write, and compare its output to references computed
here, independently of the C code. The shared parts (tokenizer, hashing,
synthetic corpora) live in tests/lib/sgs.py."""
import json
import os
import subprocess

from sgs import (BUILD, GCIDE2JSONL, ROOT, SGS_INDEX, SGS_SYNTH, WORDS,  # noqa: F401
                 jump_hash, reference_index, shard_of, synthetic_docs, test_seed,
                 tokenize, write_jsonl, xxh3_64)


def run(args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    # A message may quote damaged bytes (a term that is not UTF-8): decode
    # them as U+FFFD rather than fail the test on the quote.
    kw.setdefault("errors", "replace")
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


def dump(index_dir, what):
    r = run([SGS_INDEX, "inspect", str(index_dir), f"--dump-{what}"])
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
