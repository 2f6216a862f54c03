"""Renders a kustomization the way `kustomize build` does, for the subset of
kustomize that k8s/ uses: resources (files and directories), namespace,
images, replicas and configMapGenerator (envs, literals, behavior create or
merge, with a content-hash name suffix and the references to it rewritten).

kustomize itself is not packaged for Debian, so the tests render with this.
Any other kustomization key is an error, so k8s/ cannot grow past what is
rendered here unnoticed. The hash suffix is a hash of the content, like
kustomize's, but not the same digits."""
import copy
import hashlib
import json
import os

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "images", "replicas",
             "configMapGenerator"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume",
                  "StorageClass", "CustomResourceDefinition", "PriorityClass"}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class KustomizeError(Exception):
    pass


def _load_yaml_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def _read_env_file(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if "=" not in line:
                raise KustomizeError(f"{path}:{n}: not KEY=VALUE")
            k, v = line.split("=", 1)
            out[k] = v
    return out


def _generate(gen, base_dir):
    data = {}
    for env in gen.get("envs", []):
        data.update(_read_env_file(os.path.join(base_dir, env)))
    for lit in gen.get("literals", []):
        if "=" not in lit:
            raise KustomizeError(f"configMapGenerator {gen['name']}: literal {lit!r} is not KEY=VALUE")
        k, v = lit.split("=", 1)
        data[k] = v
    unknown = set(gen) - {"name", "envs", "literals", "behavior"}
    if unknown:
        raise KustomizeError(f"configMapGenerator keys not rendered here: {sorted(unknown)}")
    return data


def pod_specs(doc):
    """The pod spec of a workload document, or None."""
    if doc.get("kind") in WORKLOADS:
        return doc.get("spec", {}).get("template", {}).get("spec")
    if doc.get("kind") == "Pod":
        return doc.get("spec")
    return None


def containers(pod_spec):
    return list(pod_spec.get("initContainers", [])) + list(pod_spec.get("containers", []))


def _image_name(image):
    if "@" in image:
        return image.split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        return image[: len(image) - len(last)] + last.split(":", 1)[0]
    return image


def _render_dir(path):
    kpath = os.path.join(path, "kustomization.yaml")
    with open(kpath, encoding="utf-8") as f:
        k = yaml.safe_load(f) or {}
    unknown = set(k) - SUPPORTED
    if unknown:
        raise KustomizeError(f"{kpath}: keys not rendered here: {sorted(unknown)}")
    docs, generated = [], {}
    for res in k.get("resources", []):
        rpath = os.path.normpath(os.path.join(path, res))
        if os.path.isdir(rpath):
            sub_docs, sub_gen = _render_dir(rpath)
            docs += sub_docs
            generated.update(sub_gen)
        else:
            docs += _load_yaml_docs(rpath)
    for gen in k.get("configMapGenerator", []):
        name, behavior = gen["name"], gen.get("behavior", "create")
        data = _generate(gen, path)
        if behavior == "merge":
            if name not in generated:
                raise KustomizeError(f"{kpath}: merge into unknown ConfigMap {name}")
            generated[name].update(data)
        elif behavior in ("create", "replace"):
            if behavior == "create" and name in generated:
                raise KustomizeError(f"{kpath}: ConfigMap {name} generated twice")
            generated[name] = data
        else:
            raise KustomizeError(f"{kpath}: behavior {behavior!r}")
    ns = k.get("namespace")
    if ns:
        for d in docs:
            if d.get("kind") not in CLUSTER_SCOPED:
                d.setdefault("metadata", {})["namespace"] = ns
        generated["__namespace__"] = ns
    for img in k.get("images", []):
        for d in docs:
            spec = pod_specs(d)
            for c in containers(spec) if spec else []:
                if _image_name(c.get("image", "")) != img["name"]:
                    continue
                new = img.get("newName", img["name"])
                if "digest" in img:
                    c["image"] = f"{new}@{img['digest']}"
                elif "newTag" in img:
                    c["image"] = f"{new}:{img['newTag']}"
                else:
                    c["image"] = new
    for rep in k.get("replicas", []):
        hits = [d for d in docs if d.get("kind") in WORKLOADS
                and d.get("metadata", {}).get("name") == rep["name"]]
        if not hits:
            raise KustomizeError(f"{kpath}: replicas for unknown workload {rep['name']}")
        for d in hits:
            d["spec"]["replicas"] = int(rep["count"])
    return docs, generated


def _rename_refs(obj, renames):
    """Rewrites ConfigMap references (configMapKeyRef, configMapRef, volume
    configMap, projected configMap) to the hashed names."""
    if isinstance(obj, dict):
        for key in ("configMapKeyRef", "configMapRef", "configMap"):
            ref = obj.get(key)
            if isinstance(ref, dict) and ref.get("name") in renames:
                ref["name"] = renames[ref["name"]]
        for v in obj.values():
            _rename_refs(v, renames)
    elif isinstance(obj, list):
        for v in obj:
            _rename_refs(v, renames)


def build(path):
    """Renders the kustomization in directory path: a list of documents."""
    docs, generated = _render_dir(os.path.abspath(path))
    ns = generated.pop("__namespace__", None)
    renames = {}
    for name, data in sorted(generated.items()):
        body = json.dumps({"kind": "ConfigMap", "name": name, "data": data}, sort_keys=True)
        hashed = f"{name}-{hashlib.sha256(body.encode()).hexdigest()[:10]}"
        renames[name] = hashed
        cm = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": hashed}, "data": dict(data)}
        if ns:
            cm["metadata"]["namespace"] = ns
        docs.insert(0, cm)
    docs = copy.deepcopy(docs)
    _rename_refs(docs, renames)
    return docs
