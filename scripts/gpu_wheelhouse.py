#!/usr/bin/env python3
"""The wheels benchsel needs on a bare GPU machine without network, in an ignored ``.whl/``.

The GPU machine this project is lent (scripts/gpu_lease.md) has Python 3.12, torch 2.11 (CUDA
13.0) and many packages (:data:`GPU_HAS`), but no OpenMMLab stack, pydantic, pycocotools, ...
and no network. This script, run on a CPU machine with network (``bash
scripts/gpu_wheelhouse.sh``):

1. resolves the closure of what benchsel needs there: benchsel's requirements (pyproject.toml,
   the ``yolo`` extra) and what ``scripts/install.sh`` installs beside them, then their
   requirements (read from each wheel's METADATA, markers evaluated for CPython 3.12 on Linux
   x86_64), minus :data:`GPU_HAS`; panopticapi-lite without its requirements, as install.sh
   installs it; Ray left out (the GPU check does not use it), plotly only if it fits;
2. pins each to the version this environment has (``.venv``: what install.sh installed), else to
   the version in ``scripts/gpu_wheelhouse.txt``, else to the newest that matches;
3. downloads them with ``pip download --only-binary=:all: --python-version 3.12 --platform
   manylinux... --implementation cp --no-deps``, plus the mmcv 2.1.0 sdist, removes what is no
   longer needed, writes ``scripts/gpu_wheelhouse.txt`` (the lock, committed) and
   ``.whl/MANIFEST.json``, checks that the closure is complete, and prints the total size.

Run it with the environment's python (the .sh wrapper does). ``--check`` only checks ``.whl``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
WHEELHOUSE = ROOT / ".whl"
LOCK = ROOT / "scripts" / "gpu_wheelhouse.txt"
MANIFEST = "MANIFEST.json"
MMCV = "mmcv"
MMCV_VERSION = "2.1.0"
LIMIT_MIB = 40.0  # the wheelhouse; the working tree and the built mmcv share the 64 MiB carried

# What the GPU machine's python3 has (device/KINDS.md, "Python packages already there").
GPU_HAS = frozenset(
    canonicalize_name(n)
    for n in """
    absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs
    botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy
    coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython
    diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools formulaic
    frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
    hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib
    jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator
    lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes
    mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx
    ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc
    nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand
    nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13
    nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
    opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging
    pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache protobuf
    psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest
    pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil
    pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core
    scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools
    shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
    tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz
    torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers
    treescope triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig
    werkzeug wheel wrapt xarray xxhash yarl zipp
    """.split()  # noqa: SIM905
)
# Versions read there (KINDS.md's pip list); the others are checked by name only.
GPU_VERSIONS = {
    "numpy": "2.5.2",
    "onnx": "1.23.1",
    "onnxruntime": "1.30.0",
    "onnxscript": "0.7.2",
    "torch": "2.11.0",
    "torchvision": "0.26.0",
    "triton": "3.6.0",
}
# Carried although the machine has them: benchsel needs a newer one than it may have (typer
# >= 0.29 for Literal options; click to match that typer).
CARRY_ANYWAY = frozenset({"typer", "click"})
# A requirement the machine meets with another distribution of the same module.
SATISFIED_BY = {"opencv-python": "opencv-python-headless"}
# Installed without their requirements, as scripts/install.sh does (panopticapi-lite pins
# numpy<2 in its metadata but runs on numpy 2).
NO_DEPS = frozenset({"panopticapi-lite"})
LEFT_OUT = {"ray": "the GPU check runs trials locally, not on Ray (the wheel alone is ~70 MB)"}
IF_ROOM = frozenset({"plotly"})  # the report's charts: not needed by the GPU check
# install.sh keeps an installed torch (the GPU machine's CUDA build); its pin is for a bare venv.
KEPT_BY_INSTALL_SH = frozenset({"torch", "setuptools", "wheel"})
# What install.sh installs beside benchsel's own requirements.
INSTALL_SH_EXTRA = ("platformdirs",)

PLATFORMS = (
    "manylinux_2_39_x86_64",
    "manylinux_2_35_x86_64",
    "manylinux_2_34_x86_64",
    "manylinux_2_31_x86_64",
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)
MARKER_ENV = {
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "implementation_name": "cpython",
    "implementation_version": "3.12.3",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "sys_platform": "linux",
    "os_name": "posix",
    "extra": "",
}


@dataclass
class Entry:
    """One distribution of the wheelhouse."""

    name: str  # canonical
    version: str
    file: str = ""
    needed_by: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)  # requirement strings that apply there


def applies(req: Requirement) -> bool:
    """Whether a requirement applies on the GPU machine (no extra, marker true for 3.12)."""
    return req.marker is None or req.marker.evaluate(dict(MARKER_ENV))


def _pyproject_requirements(pyproject: Path) -> list[str]:
    import tomllib

    data = tomllib.loads(pyproject.read_text())
    project = data["project"]
    return list(project["dependencies"]) + list(project["optional-dependencies"]["yolo"])


def install_sh_pins(install_sh: Path) -> dict[str, str]:
    """``name -> specifier`` of the quoted requirements install.sh passes to pip install."""
    pins: dict[str, str] = {}
    for line in install_sh.read_text().splitlines():
        if not re.match(r"\s*pip install|\s*env .*pip install", line):
            continue
        for text in re.findall(r'"([A-Za-z][A-Za-z0-9_.-]*(?:[<>=!~][^"$]*)?)"', line):
            req = Requirement(text)
            pins[canonicalize_name(req.name)] = str(req.specifier)
    return pins


def root_requirements(root: Path = ROOT) -> list[Requirement]:
    """What benchsel needs: pyproject's requirements (with the yolo extra) and install.sh's.

    Each name once; install.sh's specifier joins pyproject's."""
    reqs: dict[str, Requirement] = {}
    for text in _pyproject_requirements(root / "pyproject.toml"):
        req = Requirement(text)
        reqs[canonicalize_name(req.name)] = req
    for name, spec in install_sh_pins(root / "scripts" / "install.sh").items():
        if name in KEPT_BY_INSTALL_SH:
            continue
        if name in reqs:
            joined = SpecifierSet(str(reqs[name].specifier)) & SpecifierSet(spec)
            reqs[name] = Requirement(f"{name}{joined}")
        elif name in INSTALL_SH_EXTRA or name == "panopticapi-lite":
            reqs[name] = Requirement(f"{name}{spec}")
    return [r for r in reqs.values() if applies(r)]


def read_lock(path: Path = LOCK) -> dict[str, str]:
    """``name -> version`` from the lock (``name==version  # ...`` lines)."""
    if not path.exists():
        return {}
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            name, version = text.split("==")
            out[str(canonicalize_name(name))] = version.strip()
    return out


def installed_version(name: str) -> str | None:
    """The version this environment has (the venv install.sh built), or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def wheel_requires(path: Path) -> list[str]:
    """The Requires-Dist lines of a wheel (or, for the mmcv sdist, its runtime.txt)."""
    if path.name.endswith(".tar.gz"):
        with tarfile.open(path) as tar:
            member = next(
                m for m in tar.getmembers() if m.name.endswith("requirements/runtime.txt")
            )
            fh = tar.extractfile(member)
            assert fh is not None
            lines = fh.read().decode().splitlines()
        return [t.strip() for t in lines if t.strip() and not t.startswith("#")]
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(name).decode("utf-8", "replace")
    meta = text.split("\n\n", 1)[0]
    return [t.split(":", 1)[1].strip() for t in meta.splitlines() if t.startswith("Requires-Dist:")]


def dist_of(path: Path) -> tuple[str, str] | None:
    """(canonical name, version) of a wheel or sdist file name."""
    try:
        if path.name.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(path.name)
        elif path.name.endswith(".tar.gz"):
            name, version = parse_sdist_filename(path.name)
        else:
            return None
    except ValueError:
        return None
    return str(name), str(version)


def files_in(folder: Path) -> dict[tuple[str, str], Path]:
    out: dict[tuple[str, str], Path] = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            dist = dist_of(path)
            if dist:
                out[dist] = path
    return out


def pip_download(requirements: list[str], dest: Path, python: str = sys.executable) -> None:
    """``pip download`` cp312 manylinux x86_64 (or pure-Python) wheels, no dependencies.

    A requirement with no such wheel on PyPI (fvcore, iopath: source only) is built here with
    ``pip wheel``, and kept only if the wheel is pure Python (``none-any``)."""
    if not requirements:
        return
    platforms = [a for p in PLATFORMS for a in ("--platform", p)]
    base = [python, "-m", "pip"]
    flags = ["-q", "--disable-pip-version-check", "--no-deps"]
    binary = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp"]
    cmd = [*base, "download", *flags, *binary, *platforms, "-d", str(dest)]
    if subprocess.run([*cmd, *requirements], check=False).returncode == 0:
        return
    for req in requirements:
        if subprocess.run([*cmd, req], check=False, capture_output=True).returncode == 0:
            continue
        before = set(dest.iterdir())
        print(f"{req}: no cp312/pure wheel on the index; building a pure-Python wheel here")
        subprocess.run([*base, "wheel", *flags, "-w", str(dest), req], check=True)
        for path in set(dest.iterdir()) - before:
            if path.name.endswith(".whl") and not path.name.endswith("-none-any.whl"):
                path.unlink()
                raise SystemExit(f"{req} builds a compiled wheel ({path.name}): not portable")


def download_mmcv_sdist(dest: Path, python: str = sys.executable) -> None:
    """mmcv 2.1.0's source (pip prepares its metadata, which imports torch: no isolation)."""
    cmd = [
        python, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
        "--no-build-isolation", "--no-binary=:all:", "-d", str(dest), f"{MMCV}=={MMCV_VERSION}",
    ]  # fmt: skip
    subprocess.run(cmd, check=True)


def resolve(
    roots: Iterable[Requirement],
    dest: Path,
    *,
    pins: Mapping[str, str],
    download: bool = True,
) -> tuple[dict[str, Entry], list[str]]:
    """The closure of ``roots`` that the GPU machine lacks, level by level.

    ``pins``: name -> version to use (this environment's, else the lock's). Returns the entries
    and the problems (requirements nothing satisfies)."""
    entries: dict[str, Entry] = {}
    problems: list[str] = []
    queue: list[tuple[Requirement, str]] = [(r, "benchsel") for r in roots]
    while queue:
        wanted: dict[str, tuple[Requirement, list[str]]] = {}
        for req, parent in queue:
            name = str(canonicalize_name(req.name))
            if name in LEFT_OUT:
                continue
            if name in entries:
                entries[name].needed_by.append(parent)
                if not req.specifier.contains(entries[name].version, prereleases=True):
                    problems.append(f"{parent} needs {req}, the wheelhouse has {name} "
                                    f"{entries[name].version}")  # fmt: skip
                continue
            if name in GPU_HAS and name not in CARRY_ANYWAY:
                known = GPU_VERSIONS.get(name)
                if known and not req.specifier.contains(known, prereleases=True):
                    problems.append(f"{parent} needs {req}; the GPU machine has {name} {known}")
                continue
            if SATISFIED_BY.get(name) in GPU_HAS:
                continue
            wanted.setdefault(name, (req, []))[1].append(parent)
        queue = []
        have = files_in(dest)
        missing = []
        for name, (req, _) in wanted.items():
            version = pins.get(name)
            if version and not req.specifier.contains(version, prereleases=True):
                problems.append(f"{req} does not admit the pinned {name} {version}")
            if name == MMCV:
                version = MMCV_VERSION
            if not any(n == name and (version is None or v == version) for n, v in have):
                missing.append(f"{name}=={version}" if version else str(req))
        if download and missing:
            if any(m.startswith(f"{MMCV}==") for m in missing):
                download_mmcv_sdist(dest)
            pip_download([m for m in missing if not m.startswith(f"{MMCV}==")], dest)
            have = files_in(dest)
        for name, (req, parents) in wanted.items():
            version = MMCV_VERSION if name == MMCV else pins.get(name)
            found = [
                (v, p) for (n, v), p in have.items() if n == name and (not version or v == version)
            ]
            if not found:
                problems.append(f"no file for {name}{'==' + version if version else req.specifier}")
                continue
            v, path = max(found, key=lambda vp: Version(vp[0]))
            entry = Entry(name, v, path.name, parents)
            if name not in NO_DEPS:
                for text in wheel_requires(path):
                    dep = Requirement(text)
                    if applies(dep):
                        entry.requires.append(text)
                        queue.append((dep, name))
            entries[name] = entry
    return entries, problems


def check_closure(entries: Mapping[str, Entry]) -> list[str]:
    """Problems with the wheelhouse's closure: a requirement neither it nor the GPU machine has."""
    problems = []
    for entry in entries.values():
        for text in entry.requires:
            req = Requirement(text)
            name = str(canonicalize_name(req.name))
            if name in entries:
                if not req.specifier.contains(entries[name].version, prereleases=True):
                    problems.append(f"{entry.name} needs {req}, wheelhouse has {name} "
                                    f"{entries[name].version}")  # fmt: skip
            elif name in GPU_HAS or SATISFIED_BY.get(name) in GPU_HAS:
                known = GPU_VERSIONS.get(name)
                if known and not req.specifier.contains(known, prereleases=True):
                    problems.append(f"{entry.name} needs {req}; the GPU machine has {known}")
            elif name not in LEFT_OUT:
                problems.append(f"{entry.name} needs {req}: not in the wheelhouse")
    return problems


def mib(n: float) -> float:
    return n / 2**20


def write_lock(entries: Mapping[str, Entry], path: Path = LOCK) -> None:
    lines = [
        "# Written by scripts/gpu_wheelhouse.sh: what .whl/ holds for the GPU machine (the",
        "# closure of benchsel's requirements that its python3 lacks), pinned to .venv's versions.",
    ]
    for e in sorted(entries.values(), key=lambda e: e.name):
        by = ", ".join(sorted(set(e.needed_by)))
        lines.append(f"{e.name}=={e.version}  # {by}")
    path.write_text("\n".join(lines) + "\n")


def load_manifest(folder: Path = WHEELHOUSE) -> dict[str, Entry]:
    data = json.loads((folder / MANIFEST).read_text())
    return {e["name"]: Entry(**e) for e in data["entries"]}


def build(folder: Path, limit_mib: float, download: bool = True) -> int:
    """Resolve, download, prune, write lock and manifest; print the size. Exit status."""
    folder.mkdir(exist_ok=True)
    lock = read_lock()
    roots = root_requirements()
    pins: dict[str, str] = {}
    for name in {canonicalize_name(r.name) for r in roots} | set(lock):
        version = installed_version(name) or lock.get(name)
        if version:
            pins[name] = version
    # Requirements of requirements: this environment's version where it has one.
    pins_all = _PinsFromEnv(pins, lock)
    entries, problems = resolve(roots, folder, pins=pins_all, download=download)
    problems += check_closure(entries)
    keep = {e.file for e in entries.values()}
    total = sum((folder / f).stat().st_size for f in keep)
    dropped = []
    for name in sorted(IF_ROOM & set(entries)):
        if mib(total) > limit_mib:
            e = entries.pop(name)
            keep.discard(e.file)
            total -= (folder / e.file).stat().st_size
            dropped.append(f"{name} {e.version}")
    for path in folder.iterdir():
        built = path.name.startswith(f"{MMCV}-") and path.suffix == ".whl"  # a lease's CUDA build
        if path.name != MANIFEST and path.name not in keep and dist_of(path) and not built:
            path.unlink()  # one version of each: two stop the install there
    (folder / MANIFEST).write_text(
        json.dumps(
            {
                "python": "3.12",
                "platforms": list(PLATFORMS),
                "total_bytes": total,
                "left_out": {**LEFT_OUT, **{d: "over the size limit" for d in dropped}},
                "entries": [vars(e) for e in sorted(entries.values(), key=lambda e: e.name)],
            },
            indent=1,
        )
    )
    write_lock(entries)
    for e in sorted(entries.values(), key=lambda e: e.name):
        size = (folder / e.file).stat().st_size
        print(f"  {mib(size):6.2f} MiB  {e.file}")
    print(f"left out: {', '.join([*LEFT_OUT, *dropped])}")
    print(f"{len(entries)} files, {mib(total):.1f} MiB in {folder} (limit {limit_mib:.0f} MiB)")
    for p in problems:
        print(f"PROBLEM: {p}", file=sys.stderr)
    if mib(total) > limit_mib:
        print(f"ERROR: the wheelhouse is over {limit_mib:.0f} MiB", file=sys.stderr)
        return 1
    return 1 if problems else 0


class _PinsFromEnv(dict[str, str]):
    """name -> version: the explicit pins, else this environment's version, else the lock's."""

    def __init__(self, pins: Mapping[str, str], lock: Mapping[str, str]) -> None:
        super().__init__(pins)
        self.lock = lock

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        if name in self:
            return str(self[name])
        return installed_version(name) or self.lock.get(name, default)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=WHEELHOUSE, help="default: .whl")
    parser.add_argument("--limit-mib", type=float, default=LIMIT_MIB)
    parser.add_argument(
        "--check", action="store_true", help="only check the manifest's closure (no downloads)"
    )
    args = parser.parse_args(argv)
    if args.check:
        entries = load_manifest(args.dest)
        problems = check_closure(entries)
        for p in problems:
            print(f"PROBLEM: {p}", file=sys.stderr)
        print(f"{len(entries)} entries, {'complete' if not problems else 'INCOMPLETE'}")
        return 1 if problems else 0
    os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    return build(args.dest, args.limit_mib)


if __name__ == "__main__":
    sys.exit(main())
