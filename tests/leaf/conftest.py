"""Fixtures of the leaf suite: corpora (synthetic, GCIDE sample) with their
references, and long-lived leaves over their 1- and 3-shard builds, shared by
the whole session and stopped (exit 0, no sanitizer report) at its end."""
import pytest

import sgs


@pytest.fixture(scope="session")
def synth(tmp_path_factory, seed):
    return sgs.Corpus(sgs.synthetic_docs(seed, 3000), tmp_path_factory.mktemp("synth"), "synth")


@pytest.fixture(scope="session")
def gcide(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gcide")
    docs = sgs.gcide_docs(tmp / "gcide.jsonl", 3000)
    if docs is None:
        pytest.skip("dict-gcide is not installed (make deps installs it)")
    return sgs.Corpus(docs, tmp, "gcide")


def _leaf(request, index, shard):
    leaf = sgs.Leaf(index, shard=shard)
    request.addfinalizer(leaf.stop)
    return leaf


@pytest.fixture(scope="session")
def synth_leaf(request, synth):
    return _leaf(request, synth.index(1), 0)


@pytest.fixture(scope="session")
def synth_leaves3(request, synth):
    idx = synth.index(3)
    return [_leaf(request, idx, s) for s in range(3)]


@pytest.fixture(scope="session")
def gcide_leaf(request, gcide):
    return _leaf(request, gcide.index(1), 0)
