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


def test_parallel_merge_is_byte_identical_to_one_thread(tmp_path):
    """The merge of spilled runs split by term range over 2, 3 or 4 threads
    writes the same shard files, byte for byte, as one thread merging all."""
    jsonl = tmp_path / "c.jsonl"
    r = run([SGS_SYNTH, "--docs", "30000", "--seed", "11", "--out", str(jsonl)])
    assert r.returncode == 0, r.stderr
    common = ("--generation", "11", "--mem-limit", "16M")
    base = summary(build(jsonl, tmp_path / "t1", 3, *common, "--threads", "1", env=ENV))
    assert base["merge_ranges"] == 1
    assert base["runs"] > 2  # the small limit spilled several runs
    want = read_tree(tmp_path / "t1")
    for threads, merge_threads in (("2", "0"), ("4", "0"), ("1", "3"), ("2", "4")):
        out = tmp_path / f"t{threads}-m{merge_threads}"
        got = summary(build(jsonl, out, 3, *common, "--threads", threads, "--merge-threads",
                            merge_threads, env=ENV))
        wanted_ranges = int(merge_threads) or int(threads)
        # The term space really was split: every thread had a range of its own.
        assert got["merge_ranges"] == wanted_ranges, got
        assert (got["terms"], got["postings"]) == (base["terms"], base["postings"])
        assert read_tree(out) == want, f"--threads {threads} --merge-threads {merge_threads}"
    # Piece files and run indexes went with the temporary directories.
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]
