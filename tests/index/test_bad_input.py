"""Every kind of bad input is reported with its line number and counted,
skipped by default, fatal with --strict; nothing crashes, and a failed build
leaves no index behind."""
import gzip
import json
import os
import random
import re
import subprocess

import pytest

from index_lib import SGS_INDEX, build, dump, summary

GOOD = json.dumps({"id": "good", "title": "Good title", "body": "fine words"})

CASES = [
    # (name, raw line bytes, reason in the summary)
    ("malformed_json", b'{"id": "x", "title": "unterminated', "malformed_json"),
    ("not_object", b'["id", "x"]', "not_an_object"),
    ("missing_id", b'{"title": "no id here"}', "bad_id"),
    ("number_id", b'{"id": 17, "title": "numeric id"}', "bad_id"),
    ("empty_id", b'{"id": "", "title": "empty id"}', "bad_id"),
    ("field_not_string", b'{"id": "f", "title": ["a", "list"]}', "bad_field"),
    ("invalid_utf8", b'{"id": "u", "title": "bad \xff\xfe byte"}', "invalid_utf8"),
    ("overlong_utf8", b'{"id": "o", "title": "overlong \xc0\xaf slash"}', "invalid_utf8"),
    ("no_tokens", b'{"id": "n", "title": "!!! ... ---", "body": ""}', "no_tokens"),
    ("no_text_fields", b'{"id": "m", "other": "words"}', "no_tokens"),
]


def write_lines(path, lines):
    with open(path, "wb") as f:
        for line in lines:
            f.write(line + b"\n")


@pytest.mark.parametrize("name,line,reason", CASES, ids=[c[0] for c in CASES])
def test_bad_line_is_reported_counted_and_skipped(tmp_path, name, line, reason):
    src = tmp_path / "in.jsonl"
    write_lines(src, [GOOD.encode(), line, json.dumps({"id": "after", "body": "x"}).encode()])
    r = build(src, tmp_path / "idx", 2)
    s = summary(r)
    assert s["docs"] == 2 and s["rejected"] == 1 and s["lines"] == 3
    assert s["rejected_by_reason"] == {reason: 1}
    assert "line 2: " + reason in r.stderr
    assert sorted(d["id"] for d in dump(tmp_path / "idx", "docs")) == ["after", "good"]


@pytest.mark.parametrize("name,line,reason", CASES, ids=[c[0] for c in CASES])
def test_strict_fails_on_the_first_bad_line(tmp_path, name, line, reason):
    src = tmp_path / "in.jsonl"
    write_lines(src, [GOOD.encode(), line])
    r = build(src, tmp_path / "idx", 2, "--strict", check=False)
    assert r.returncode == 1
    assert "line 2" in r.stderr and reason in r.stderr
    assert not (tmp_path / "idx").exists()
    assert os.listdir(tmp_path) == ["in.jsonl"]


def test_duplicate_id_keeps_the_first(tmp_path):
    src = tmp_path / "in.jsonl"
    write_lines(src, [json.dumps({"id": "same", "title": "first"}).encode(),
                      json.dumps({"id": "other", "title": "middle"}).encode(),
                      json.dumps({"id": "same", "title": "second"}).encode()])
    r = build(src, tmp_path / "idx", 3)
    s = summary(r)
    assert s["rejected_by_reason"] == {"duplicate_id": 1}
    assert "line 3: duplicate_id" in r.stderr
    docs = {d["id"]: d for d in dump(tmp_path / "idx", "docs")}
    assert json.loads(docs["same"]["stored"]) == {"title": "first"}


def test_hundred_megabyte_line_is_rejected_without_crashing(tmp_path):
    src = tmp_path / "in.jsonl"
    with open(src, "wb") as f:
        f.write(GOOD.encode() + b"\n")
        f.write(b'{"id": "huge", "body": "')
        chunk = b"word " * (1 << 20)
        for _ in range(20):
            f.write(chunk)
        f.write(b'"}\n')
        f.write(json.dumps({"id": "last", "body": "end"}).encode() + b"\n")
    r = build(src, tmp_path / "idx", 2)
    s = summary(r)
    assert s["rejected_by_reason"] == {"line_too_long": 1}
    assert "line 2: line_too_long" in r.stderr
    assert s["docs"] == 2


def test_empty_input_fails_clearly(tmp_path):
    src = tmp_path / "empty.jsonl"
    src.write_bytes(b"")
    r = build(src, tmp_path / "idx", 2, check=False)
    assert r.returncode == 1
    assert "no valid documents" in r.stderr
    assert not (tmp_path / "idx").exists()


def test_only_bad_lines_fails_clearly(tmp_path):
    src = tmp_path / "bad.jsonl"
    write_lines(src, [b"not json", b"{}", b""])
    r = build(src, tmp_path / "idx", 2, check=False)
    assert r.returncode == 1 and "no valid documents" in r.stderr


def test_missing_input_and_usage_errors(tmp_path):
    r = build(tmp_path / "nope.jsonl", tmp_path / "idx", 2, check=False)
    assert r.returncode == 1 and "nope.jsonl" in r.stderr
    r = subprocess.run([SGS_INDEX, "build", "--shards", "0", "--input", "x", "--out", "y"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--shards" in r.stderr
    r = subprocess.run([SGS_INDEX, "build", "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown flag --bogus" in r.stderr


def test_blank_lines_crlf_and_last_line_without_newline(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'\n  \n{"id": "a", "body": "one"}\r\n\n{"id": "b", "body": "two"}')
    s = summary(build(src, tmp_path / "idx", 1))
    assert s["docs"] == 2 and s["rejected"] == 0


def test_compressed_inputs_and_stdin(tmp_path):
    lines = [json.dumps({"id": "d%d" % i, "body": "word%d common" % i}).encode()
             for i in range(100)]
    plain = tmp_path / "a.jsonl"
    write_lines(plain, lines[:40])
    with gzip.open(tmp_path / "b.jsonl.gz", "wb") as f:
        f.write(b"\n".join(lines[40:70]) + b"\n")
    zst = tmp_path / "c.jsonl.zst"
    raw = tmp_path / "c.raw"
    write_lines(raw, lines[70:])
    subprocess.run(["zstd", "-q", "-f", str(raw), "-o", str(zst)], check=True)
    args = [SGS_INDEX, "build", "--shards", "2", "--out", str(tmp_path / "idx"),
            "--input", str(plain), "--input", str(tmp_path / "b.jsonl.gz"),
            "--input", str(zst), "--input", "-"]
    r = subprocess.run(args, input=b'{"id": "stdin", "body": "from a pipe"}\n',
                       capture_output=True)
    assert r.returncode == 0, r.stderr
    assert len(dump(tmp_path / "idx", "docs")) == 101


def test_corrupt_gzip_fails_cleanly(tmp_path):
    src = tmp_path / "bad.jsonl.gz"
    data = gzip.compress(b'{"id": "a", "body": "x"}\n' * 1000)
    src.write_bytes(data[: len(data) // 2])
    r = build(src, tmp_path / "idx", 2, check=False)
    assert r.returncode == 1 and "gzip" in r.stderr
    assert not (tmp_path / "idx").exists()


def test_progress_line_and_summary(tmp_path):
    src = tmp_path / "in.jsonl"
    write_lines(src, [json.dumps({"id": "d%d" % i, "body": "w%d x" % i}).encode()
                      for i in range(1000)])
    r = build(src, tmp_path / "idx", 2, "--progress")
    assert "docs/s" in r.stderr and "MB/s" in r.stderr and "1000 docs" in r.stderr
    s = summary(r)
    for key in ("docs", "terms", "postings", "seconds", "docs_per_s", "mb_per_s", "index_bytes",
                "rejected"):
        assert key in s


def _far_duplicates(path, seed, n):
    """n lines; about 1 in 20 repeats an id from anywhere earlier (so most
    repeats are far behind, past the id set's table). Returns the lines'
    ids and the 1-based numbers of the lines a build must reject."""
    rng = random.Random(seed)
    ids, seen, dups = [], set(), []
    with open(path, "w") as f:
        for i in range(n):
            if ids and rng.random() < 0.05:
                id_ = rng.choice(ids)
            else:
                id_ = f"d{i}"
            if id_ in seen:
                dups.append(i + 1)
            else:
                seen.add(id_)
            ids.append(id_)
            f.write(json.dumps({"id": id_, "title": f"line {i + 1}",
                                "body": f"w{rng.randrange(500)} w{rng.randrange(500)}"}) + "\n")
    return ids, dups


def test_duplicate_ids_far_apart_past_the_id_table(tmp_path, seed):
    """With --mem-limit 16M the id table holds about 45,000 ids; 150,000
    lines spill most ids to the sorted file, and a repeat is caught there
    as exactly as in the table: the first is kept, every later one is
    reported with its line number."""
    src = tmp_path / "in.jsonl"
    ids, dups = _far_duplicates(src, seed, 150000)
    r = build(src, tmp_path / "idx", 3, "--mem-limit", "16M", "--threads", "2")
    s = summary(r)
    assert s["ids_spilled"] > 100000, s
    assert s["rejected_by_reason"] == {"duplicate_id": len(dups)}
    assert s["docs"] == len(ids) - len(dups)
    reported = [int(m) for m in re.findall(r"line (\d+): duplicate_id", r.stderr)]
    assert reported == dups[:len(reported)] and len(reported) == 20
    first_line = {}
    for i, id_ in enumerate(ids):
        first_line.setdefault(id_, i + 1)
    docs = dump(tmp_path / "idx", "docs")
    assert len(docs) == len(first_line)
    for d in docs:
        assert json.loads(d["stored"]) == {"title": f"line {first_line[d['id']]}"}


def test_strict_stops_at_a_far_duplicate(tmp_path, seed):
    src = tmp_path / "in.jsonl"
    _, dups = _far_duplicates(src, seed + 1, 120000)
    # Make the first repeat come after the table has spilled.
    lines = open(src).read().splitlines(keepends=True)
    lines = [ln for i, ln in enumerate(lines) if i + 1 not in dups or i + 1 > 80000]
    src.write_text("".join(lines))
    first = None
    seen = set()
    for i, ln in enumerate(lines):
        id_ = json.loads(ln)["id"]
        if id_ in seen:
            first = i + 1
            break
        seen.add(id_)
    assert first is not None and first > 45000
    r = build(src, tmp_path / "idx", 2, "--mem-limit", "16M", "--strict", check=False)
    assert r.returncode == 1
    assert f"line {first}: duplicate_id" in r.stderr
    assert not (tmp_path / "idx").exists()
