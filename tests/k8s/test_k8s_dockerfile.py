"""k8s/Dockerfile without a container engine: what it COPYs exists after
`make`, the runtime packages it names exist in Debian, and the image build
itself runs only where an engine answers."""
import os
import re
import shutil
import subprocess

import pytest

from k8s_lib import BUILD, K8S, REPO

DOCKERFILE = os.path.join(K8S, "Dockerfile")
# Libraries debian:bookworm-slim already holds (apt itself needs them).
BASE_IMAGE_PKGS = {"libc6", "libgcc-s1", "libstdc++6"}


def stages():
    """[(stage header, [instructions])] with line continuations joined."""
    text = open(DOCKERFILE).read().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            out.append((line, []))
        else:
            out[-1][1].append(line)
    return out


def arg(name):
    for _, instrs in stages():
        for i in instrs:
            m = re.fullmatch(rf'ARG {name}="([^"]*)"', i)
            if m:
                return m.group(1).split()
    pytest.fail(f"Dockerfile has no ARG {name}")


def test_bookworm_multi_stage_non_root():
    st = stages()
    assert len(st) >= 2
    assert all("debian:bookworm" in h for h, _ in st)
    runtime = st[-1][1]
    users = [i for i in runtime if i.startswith("USER ")]
    assert users and users[-1].split()[1].split(":")[0] not in ("0", "root")
    assert any("make" in i and " all" in i for i in st[0][1] if i.startswith("RUN "))


def test_context_files_it_copies_exist():
    assert os.path.isfile(os.path.join(REPO, ".dockerignore"))
    for _, instrs in stages():
        for i in instrs:
            if not i.startswith("COPY ") or "--from=" in i:
                continue
            for src in i.split()[1:-1]:
                assert os.path.exists(os.path.join(REPO, src)), f"COPY source {src} missing"
    ignored = open(os.path.join(REPO, ".dockerignore")).read().split()
    for must_stay in ("Makefile", "common", "leaf", "k8s"):
        assert must_stay not in ignored


def test_programs_it_copies_exist_after_make():
    required = arg("PROGRAMS")
    assert {"sgs-index", "sgs-leaf", "sgs-root"} <= set(required)
    if not os.path.isdir(os.path.join(REPO, "root")):
        required.remove("sgs-root")  # reported by test_root_program_exists
    missing = [p for p in required if not os.path.isfile(os.path.join(BUILD, p))]
    assert not missing, f"make did not produce {missing} in {BUILD}"
    for p in arg("OPTIONAL_PROGRAMS"):
        assert os.path.isdir(os.path.join(REPO, p.replace("sgs-", ""))), p


def test_root_program_exists():
    if not os.path.isdir(os.path.join(REPO, "root")):
        pytest.skip("root/ has no sources yet: the image build would fail on sgs-root")
    assert os.path.isfile(os.path.join(BUILD, "sgs-root"))


def runtime_packages():
    for i in stages()[-1][1]:
        m = re.search(r"apt-get install -y --no-install-recommends ([^&]*)", i)
        if m:
            return m.group(1).split()
    pytest.fail("runtime stage installs no packages")


def apt_knows_packages():
    return subprocess.run(["apt-cache", "show", "libc6"], capture_output=True).returncode == 0


def test_runtime_packages_exist_in_debian():
    pkgs = runtime_packages()
    for lib in ("libmicrohttpd12", "libjansson4", "libxxhash0", "libck0", "libjemalloc2",
                "libutf8proc2", "libzstd1", "zlib1g", "curl"):
        assert lib in pkgs
    if not apt_knows_packages():
        pytest.skip("apt-cache knows no packages here (run apt-get update)")
    r = subprocess.run(["apt-cache", "show", "--no-all-versions"] + pkgs,
                       capture_output=True, text=True)
    found = set(re.findall(r"^Package: (\S+)$", r.stdout, re.M))
    assert found == set(pkgs), f"not in Debian: {sorted(set(pkgs) - found)}"


def test_runtime_packages_cover_what_the_programs_link():
    """Every shared library the built programs need comes with a named package
    (or its dependencies) or the base image."""
    if not apt_knows_packages():
        pytest.skip("apt-cache knows no packages here (run apt-get update)")
    pkgs = runtime_packages()
    libs = {}
    for p in arg("PROGRAMS"):
        path = os.path.join(BUILD, p)
        if not os.path.isfile(path):
            continue
        out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
        for soname, lib in re.findall(r"^\s*(\S+) => (\S+)", out, re.M):
            if "libasan" in soname or "libubsan" in soname:
                pytest.skip("sanitizer build: the image holds the release build")
            libs[os.path.realpath(lib)] = f"{p}: {soname}"
    if not libs:
        pytest.skip("no program built yet")
    # dpkg records a library under /lib or /usr/lib (merged /usr): ask for both.
    asked = sorted({q for path in libs for q in (path, re.sub(r"^/usr/lib/", "/lib/", path))})
    out = subprocess.run(["dpkg", "-S"] + asked, capture_output=True, text=True).stdout
    owners = {}
    for line in out.splitlines():
        pkg, path = line.split(": ", 1)
        owners[os.path.basename(path)] = pkg.split(":")[0]
    deps = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends",
                           "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces",
                           "--no-enhances"] + pkgs, capture_output=True, text=True).stdout
    closure = set(pkgs) | BASE_IMAGE_PKGS | {
        m.split(":")[0] for m in re.findall(r"^\s*(?:Pre)?Depends: <?([^>\s]+)>?$", deps, re.M)}
    for path, what in libs.items():
        owner = owners.get(os.path.basename(path))
        assert owner, f"{what}: {path} belongs to no package"
        assert owner in closure, f"{what} comes from {owner}, not in the image"


def test_image_builds_with_an_engine():
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "info"], capture_output=True).returncode != 0:
        pytest.skip("no container engine answers here (docker info fails): "
                    "the image build step is not run; the checks above cover its inputs")
    subprocess.run([docker, "build", "-f", DOCKERFILE, "-t", "sgsearch:test", REPO], check=True)
