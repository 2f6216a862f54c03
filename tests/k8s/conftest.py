"""Fixtures of the k8s/ suite; its helpers live in k8s_lib.py."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import k8s_lib  # noqa: E402
import kustomize_lite  # noqa: E402


@pytest.fixture(params=k8s_lib.KUSTOMIZATIONS)
def rendered(request):
    """The documents `kustomize build k8s/<base|overlays/example>` renders."""
    return kustomize_lite.build(os.path.join(k8s_lib.K8S, request.param))
