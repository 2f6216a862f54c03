"""Two builds of the same input with the same generation id are
byte-identical, whatever the thread count or memory limit (which decides
how many runs spill and get merged)."""
import os

from index_lib import SGS_SYNTH, build, run, summary, synthetic_docs, write_jsonl

ENV = {"SOURCE_DATE_EPOCH": "1700000000"}


def read_tree(d):
    return {name: open(os.path.join(d, name), "rb").read() for name in sorted(os.listdir(d))}


def test_same_input_same_generation_is_byte_identical(tmp_path, seed):
    jsonl = tmp_path / "c.jsonl"
    write_jsonl(jsonl, synthetic_docs(seed, 2000))
    build(jsonl, tmp_path / "a", 3, "--generation", "abc123", env=ENV)
    build(jsonl, tmp_path / "b", 3, "--generation", "abc123", env=ENV)
    a, b = read_tree(tmp_path / "a"), read_tree(tmp_path / "b")
    assert sorted(a) == ["manifest.json", "shard-0000.sgs", "shard-0001.sgs", "shard-0002.sgs"]
    assert a == b


def test_threads_and_spilling_do_not_change_the_output(tmp_path):
    jsonl = tmp_path / "c.jsonl"
    r = run([SGS_SYNTH, "--docs", "60000", "--seed", "7", "--out", str(jsonl)])
    assert r.returncode == 0, r.stderr
    one = summary(build(jsonl, tmp_path / "one", 4, "--generation", "7", "--threads", "1",
                        env=ENV))
    spilled = summary(build(jsonl, tmp_path / "spilled", 4, "--generation", "7", "--threads",
                            "2", "--mem-limit", "16M", env=ENV))
    # The small limit really spilled several runs; the large one did not need to.
    assert spilled["runs"] > one["runs"]
    a, b = read_tree(tmp_path / "one"), read_tree(tmp_path / "spilled")
    assert a == b


def test_different_generation_differs(tmp_path, seed):
    jsonl = tmp_path / "c.jsonl"
    write_jsonl(jsonl, synthetic_docs(seed, 300))
    build(jsonl, tmp_path / "a", 2, "--generation", "1", env=ENV)
    build(jsonl, tmp_path / "b", 2, "--generation", "2", env=ENV)
    assert read_tree(tmp_path / "a") != read_tree(tmp_path / "b")
