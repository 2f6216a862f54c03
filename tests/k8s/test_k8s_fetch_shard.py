"""k8s/fetch-shard.sh, the leaf pod's init container, run here over file://
URLs: it installs the right shard for the pod's ordinal, and a corrupt or
missing copy fails it and installs nothing."""
import json
import os
import subprocess

import pytest

from k8s_lib import BUILD, K8S

SCRIPT = os.path.join(K8S, "fetch-shard.sh")
SGS_INDEX = os.path.join(BUILD, "sgs-index")


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    d = tmp_path_factory.mktemp("idx")
    src = d / "docs.jsonl"
    src.write_text("".join(json.dumps({"id": f"d{i}", "title": f"t{i}", "body": f"w{i % 7} x"})
                           + "\n" for i in range(200)))
    subprocess.run([SGS_INDEX, "build", "--input", str(src), "--shards", "3",
                    "--out", str(d / "gen")], check=True, capture_output=True)
    return d / "gen"


def fetch(url, dest, **env):
    e = dict(os.environ, SGS_INDEX_URL=url, SGS_INDEX_DIR=str(dest), SGS_INDEX_BIN=SGS_INDEX)
    e.update(env)
    return subprocess.run(["sh", SCRIPT], env=e, capture_output=True, text=True)


@pytest.mark.parametrize("name,shard", [("sgs-leaf-0", 0), ("sgs-leaf-4", 1), ("sgs-leaf-5", 2)])
def test_installs_the_pods_shard(index, tmp_path, name, shard):
    r = fetch(f"file://{index}/", tmp_path / "out", SGS_HOSTNAME=name)
    assert r.returncode == 0, r.stderr
    man = json.load(open(index / "manifest.json"))
    want = man["shard_files"][shard]["file"]
    assert sorted(os.listdir(tmp_path / "out")) == sorted(["manifest.json", want])
    assert (tmp_path / "out" / want).read_bytes() == (index / want).read_bytes()
    r = subprocess.run([SGS_INDEX, "verify", str(tmp_path / "out" / want)], capture_output=True)
    assert r.returncode == 0


def test_corrupt_copy_fails_and_installs_nothing(index, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in os.listdir(index):
        (bad / f).write_bytes((index / f).read_bytes())
    victim = json.load(open(index / "manifest.json"))["shard_files"][1]["file"]
    data = bytearray((bad / victim).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / victim).write_bytes(bytes(data))
    r = fetch(f"file://{bad}", tmp_path / "out", SGS_ORDINAL="1")
    assert r.returncode != 0
    assert "failed verification" in r.stderr
    assert os.listdir(tmp_path / "out") == []
    # The other shards of the same copy are sound and install.
    assert fetch(f"file://{bad}", tmp_path / "ok", SGS_ORDINAL="2").returncode == 0


@pytest.mark.parametrize("env,why", [
    ({"SGS_HOSTNAME": "leaf"}, "no ordinal"),
    ({"SGS_HOSTNAME": "sgs-leaf-x"}, "no ordinal"),
    ({"SGS_ORDINAL": "0", "SGS_INDEX_URL": "file:///nonexistent/idx"}, "cannot fetch"),
])
def test_bad_setup_fails_with_a_reason(index, tmp_path, env, why):
    e = {"SGS_INDEX_URL": f"file://{index}"}
    e.update(env)
    r = fetch(e.pop("SGS_INDEX_URL"), tmp_path / "out", **e)
    assert r.returncode != 0 and why in r.stderr, r.stderr
