"""Helpers of the k8s/ suite: the rendered manifests (base and the example
overlay) and the offline schema validator (kubernetes-models under node,
installed into tests/k8s/node/ from its lock file when missing)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
K8S = os.path.join(REPO, "k8s")
NODE_DIR = os.path.join(HERE, "node")
BUILD = os.path.join(REPO, os.environ.get("SGS_BUILD", "build/release"))
sys.path.insert(0, HERE)

import kustomize_lite  # noqa: E402

KUSTOMIZATIONS = ["base", "overlays/example"]


def ensure_node_modules():
    """Installs kubernetes-models from the committed lock file if missing."""
    if os.path.isdir(os.path.join(NODE_DIR, "node_modules", "kubernetes-models")):
        return
    npm = shutil.which("npm")
    if not npm:
        pytest.fail("npm is missing: scripts/deps.sh installs it")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                   cwd=NODE_DIR, check=True)


def validate_docs(docs, tmp_path):
    """Runs node/validate.mjs over docs; returns {(kind, name): [errors]}."""
    ensure_node_modules()
    path = os.path.join(str(tmp_path), "docs.json")
    with open(path, "w") as f:
        json.dump(docs, f)
    out = subprocess.run(["node", os.path.join(NODE_DIR, "validate.mjs"), path],
                         capture_output=True, text=True, check=True).stdout
    return {(r["kind"], r["name"]): r["errors"] for r in json.loads(out)}


def find(docs, kind, name=None):
    hits = [d for d in docs if d["kind"] == kind
            and (name is None or d["metadata"]["name"] == name)]
    assert len(hits) == 1, f"expected one {kind} {name or ''}, found {len(hits)}"
    return hits[0]
