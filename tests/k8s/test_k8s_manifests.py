"""Offline checks of k8s/: every rendered document validates against the
Kubernetes API schemas (kubernetes-models) with no unknown key, and the
manifests keep the invariants the leaf and root rely on."""
import copy
import re

import pytest

from k8s_lib import K8S, find, validate_docs
import kustomize_lite
import os


def flags(container):
    """A container's --flag=value / --flag value / --flag args as a dict."""
    out, args = {}, list(container.get("args", []))
    i = 0
    while i < len(args):
        a = args[i]
        assert a.startswith("--"), f"unexpected argument {a!r}"
        if "=" in a:
            k, v = a[2:].split("=", 1)
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            k, v = a[2:], args[i + 1]
            i += 1
        else:
            k, v = a[2:], True
        out[k] = v
        i += 1
    return out


def container(workload, name):
    cs = [c for c in workload["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    assert len(cs) == 1, f"{workload['metadata']['name']}: container {name}"
    return cs[0]


def config(docs):
    return find(docs, "ConfigMap")["data"]


def prestop_seconds(c):
    cmd = c["lifecycle"]["preStop"]["exec"]["command"]
    assert cmd[0].endswith("sleep"), f"preStop is not a sleep: {cmd}"
    return float(cmd[1])


def matches(selector, labels):
    ml = selector.get("matchLabels", {})
    assert not selector.get("matchExpressions"), "only matchLabels is checked here"
    return bool(ml) and all(labels.get(k) == v for k, v in ml.items())


# --- schema ------------------------------------------------------------------

def test_every_document_validates(rendered, tmp_path):
    results = validate_docs(rendered, tmp_path)
    assert len(results) == len(rendered)
    bad = {k: v for k, v in results.items() if v}
    assert not bad, bad


def test_validator_catches_unknown_keys_and_bad_types(tmp_path):
    """The validator itself can fail: a typo'd key and a wrong type are reported."""
    docs = kustomize_lite.build(os.path.join(K8S, "base"))
    sts = copy.deepcopy(find(docs, "StatefulSet"))
    leaf = container(sts, "leaf")
    leaf["readinesProbe"] = leaf.pop("readinessProbe")
    sts["spec"]["template"]["spec"]["terminationGracePeriod"] = 30
    svc = copy.deepcopy(find(docs, "Service", "sgs-leaf"))
    svc["spec"]["clusterIP"] = 0
    pdb = copy.deepcopy(find(docs, "PodDisruptionBudget", "sgs-leaf"))
    pdb["apiVersion"] = "policy/v1"
    pdb["spec"]["selector"]["matchLabel"] = pdb["spec"]["selector"].pop("matchLabels")
    res = validate_docs([sts, svc, pdb], tmp_path)
    sts_errs = "\n".join(res[("StatefulSet", "sgs-leaf")])
    assert "containers/1/readinesProbe: unknown key" in sts_errs or \
        "readinesProbe: unknown key" in sts_errs, sts_errs
    assert "terminationGracePeriod: unknown key" in sts_errs, sts_errs
    assert any("clusterIP" in e for e in res[("Service", "sgs-leaf")]), res
    assert any("matchLabel: unknown key" in e for e in res[("PodDisruptionBudget", "sgs-leaf")])


def test_renderer_rejects_unrendered_kustomize_features(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(kustomize_lite.KustomizeError, match="commonLabels"):
        kustomize_lite.build(str(tmp_path))


# --- invariants --------------------------------------------------------------

def test_headless_service_governs_the_statefulset(rendered):
    sts = find(rendered, "StatefulSet", "sgs-leaf")
    svc = find(rendered, "Service", sts["spec"]["serviceName"])
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["publishNotReadyAddresses"] is True
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert matches({"matchLabels": svc["spec"]["selector"]}, labels)
    assert matches(sts["spec"]["selector"], labels)
    port = container(sts, "leaf")["ports"][0]
    assert svc["spec"]["ports"][0]["targetPort"] in (port["name"], port["containerPort"])


def _probe_port_ok(probe, c):
    port = probe["httpGet"]["port"]
    return any(port in (p["name"], p["containerPort"]) for p in c["ports"])


@pytest.mark.parametrize("workload,cname", [("StatefulSet", "leaf"), ("Deployment", "root")])
def test_probes_point_at_readyz_and_healthz_on_the_container_port(rendered, workload, cname):
    c = container(find(rendered, workload), cname)
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["startupProbe"]["httpGet"]["path"] in ("/readyz", "/healthz")
    for p in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert _probe_port_ok(c[p], c), f"{cname} {p} port"
    listen = flags(c)["listen"]
    assert int(listen.rsplit(":", 1)[1]) == c["ports"][0]["containerPort"]


def test_leaf_derives_its_shard_from_the_pod_name(rendered):
    sts = find(rendered, "StatefulSet", "sgs-leaf")
    c = container(sts, "leaf")
    f = flags(c)
    assert f.get("shard-from-hostname") is True and "shard" not in f and "ordinal" not in f
    env = {e["name"]: e for e in c.get("env", [])}
    if "hostname" in f:
        var = re.fullmatch(r"\$\((\w+)\)", f["hostname"]).group(1)
        assert env[var]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_grace_period_covers_prestop_drain_and_longest_query(rendered):
    sts = find(rendered, "StatefulSet", "sgs-leaf")
    dep = find(rendered, "Deployment", "sgs-root")
    leaf, root = container(sts, "leaf"), container(dep, "root")
    root_max_s = int(flags(root)["max-timeout-ms"]) / 1000
    leaf_drain_s = int(flags(leaf)["drain-timeout-ms"]) / 1000
    # A leaf drains for as long as the longest query the root may send it.
    assert leaf_drain_s >= root_max_s
    leaf_grace = sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert leaf_grace > prestop_seconds(leaf) + leaf_drain_s
    # On SIGTERM the root lets pending queries run to their deadline, at most
    # --max-timeout-ms, plus 1 s for the answers to go out.
    root_grace = dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert root_grace > prestop_seconds(root) + root_max_s + 1
    assert int(flags(root)["default-timeout-ms"]) <= int(flags(root)["max-timeout-ms"])


@pytest.mark.parametrize("name", ["sgs-leaf", "sgs-root"])
def test_pdb_selects_the_pods(rendered, name):
    pdb = find(rendered, "PodDisruptionBudget", name)
    assert pdb["spec"]["maxUnavailable"] == 1
    kind = "StatefulSet" if name == "sgs-leaf" else "Deployment"
    labels = find(rendered, kind, name)["spec"]["template"]["metadata"]["labels"]
    assert matches(pdb["spec"]["selector"], labels)
    other = find(rendered, "Deployment" if kind == "StatefulSet" else "StatefulSet")
    assert not matches(pdb["spec"]["selector"], other["spec"]["template"]["metadata"]["labels"])


def test_leaf_replicas_are_spread(rendered):
    sts = find(rendered, "StatefulSet", "sgs-leaf")
    spec = sts["spec"]["template"]["spec"]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    anti = spec["affinity"]["podAntiAffinity"]
    terms = [t.get("podAffinityTerm", t) for t in
             anti.get("preferredDuringSchedulingIgnoredDuringExecution", []) +
             anti.get("requiredDuringSchedulingIgnoredDuringExecution", [])]
    assert any(t["topologyKey"] == "kubernetes.io/hostname" and
               matches(t["labelSelector"], labels) for t in terms)
    for tsc in spec.get("topologySpreadConstraints", []):
        assert matches(tsc["labelSelector"], labels)


def test_root_leaf_pattern_names_the_headless_service(rendered):
    sts = find(rendered, "StatefulSet", "sgs-leaf")
    root = container(find(rendered, "Deployment", "sgs-root"), "root")
    pattern = flags(root)["leaf-pattern"]
    m = re.fullmatch(r"http://([\w-]+)-\{ordinal\}\.([\w-]+)\.\$\(POD_NAMESPACE\)"
                     r"\.svc\.cluster\.local:(\d+)", pattern)
    assert m, pattern
    assert m.group(1) == sts["metadata"]["name"]
    assert m.group(2) == sts["spec"]["serviceName"]
    svc = find(rendered, "Service", m.group(2))
    assert int(m.group(3)) == svc["spec"]["ports"][0]["port"]
    env = {e["name"]: e for e in root["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_shards_times_replicas_is_the_leaf_pod_count(rendered):
    cfg = config(rendered)
    shards, replicas = int(cfg["SHARDS"]), int(cfg["REPLICAS"])
    assert shards >= 1 and replicas >= 1
    assert find(rendered, "StatefulSet", "sgs-leaf")["spec"]["replicas"] == shards * replicas
    root = container(find(rendered, "Deployment", "sgs-root"), "root")
    f = flags(root)
    env = {e["name"]: e for e in root["env"]}
    for flag, key in (("shards", "SHARDS"), ("replicas", "REPLICAS")):
        var = re.fullmatch(r"\$\((\w+)\)", f[flag]).group(1)
        ref = env[var]["valueFrom"]["configMapKeyRef"]
        assert ref["key"] == key and ref["name"] == find(rendered, "ConfigMap")["metadata"]["name"]


def test_init_container_fetches_and_verifies_from_the_configured_url(rendered):
    sts = find(rendered, "StatefulSet", "sgs-leaf")
    spec = sts["spec"]["template"]["spec"]
    (init,) = spec["initContainers"]
    assert init["command"] == ["/usr/local/bin/sgs-fetch-shard"]
    env = {e["name"]: e for e in init["env"]}
    ref = env["SGS_INDEX_URL"]["valueFrom"]["configMapKeyRef"]
    assert ref["key"] == "INDEX_URL"
    assert ref["name"] == find(rendered, "ConfigMap")["metadata"]["name"]
    assert config(rendered)["INDEX_URL"].startswith(("http://", "https://"))
    leaf = container(sts, "leaf")
    index_dir = flags(leaf)["index"]
    mount = lambda c: {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert index_dir in mount(leaf).values()
    vol = [n for n, p in mount(leaf).items() if p == index_dir][0]
    assert mount(init)[vol] == env["SGS_INDEX_DIR"]["value"] == index_dir
    assert init["image"] == leaf["image"]


def test_pods_run_as_non_root(rendered):
    for kind in ("StatefulSet", "Deployment"):
        spec = find(rendered, kind)["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        for c in spec.get("initContainers", []) + spec["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert "memory" in c["resources"]["limits"] and "cpu" in c["resources"]["requests"]


def test_overlay_sets_image_and_namespace():
    docs = kustomize_lite.build(os.path.join(K8S, "overlays/example"))
    ns = find(docs, "Namespace")["metadata"]["name"]
    for d in docs:
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == ns, d["metadata"]["name"]
        spec = kustomize_lite.pod_specs(d)
        for c in kustomize_lite.containers(spec) if spec else []:
            assert c["image"] != "sgsearch" and ":" in c["image"], c["image"]
