#!/usr/bin/env python3
"""How `scripts/install.sh` builds mmcv 2.1.0 on this machine, and why.

mmcv has no wheels for current torch, so it is built from source. Its setup.py compiles CUDA
sources whenever ``torch.cuda.is_available()`` (or ``FORCE_CUDA=1``), whether or not a usable
nvcc exists, and pip reuses a wheel it built earlier whatever ``FORCE_CUDA`` says. This script
gathers the facts (torch and its CUDA, the visible GPUs, the nvcc torch would use, the installed
mmcv and where its ops run, memory and cores) and decides in :func:`plan`, a pure function:

- build or not; with CUDA ops (``FORCE_CUDA``) or CPU ops only (GPUs hidden from the build);
- uninstall first and build without pip's cache when the installed or cached mmcv is unusable;
- ``TORCH_CUDA_ARCH_LIST``: the visible GPUs' capabilities, or a stated list without a GPU;
- ``MAX_JOBS``: the cores, capped by memory (one job per 1.5 GB for C++, 3 GB for nvcc);
- the reasons, and warnings that name the fix.

Runs with the environment's python before benchsel is installed (stdlib + torch, imported
lazily). Prints shell assignments for install.sh (``--json``: facts and plan), the reasons on
stderr; ``--verify`` checks after a build that nothing is left to build.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

MMCV_VERSION = "2.1.0"
GB_PER_CXX_JOB = 1.5  # g++ on mmcv's ops, torch headers included: about 0.5-1.5 GB each
GB_PER_NVCC_JOB = 3.0  # nvcc on mmcv's CUDA kernels: about 2-4 GB each

# Compute capabilities nvcc can target: (first nvcc version, lowest, highest).
_NVCC_ARCH_RANGE: tuple[tuple[tuple[int, int], tuple[int, int], tuple[int, int]], ...] = (
    ((13, 0), (7, 5), (12, 0)),  # CUDA 13 dropped Maxwell, Pascal and Volta
    ((12, 8), (5, 0), (12, 0)),  # Blackwell
    ((11, 8), (3, 5), (9, 0)),  # Ada, Hopper
    ((11, 1), (3, 5), (8, 6)),
    ((11, 0), (3, 5), (8, 0)),
)
# Architectures built when no GPU is visible (a container build): Volta to the newest nvcc
# supports, PTX of the newest for GPUs that come later.
_DEFAULT_ARCHS = ((7, 0), (7, 5), (8, 0), (8, 6), (8, 9), (9, 0), (10, 0), (12, 0))


@dataclass(frozen=True)
class Facts:
    """What the decision depends on; :func:`gather_facts` reads them from this machine."""

    python: str = "python"
    torch_version: str | None = None
    torch_cuda: str | None = None  # torch.version.cuda; None for a CPU build
    cuda_available: bool = False
    gpu_capabilities: tuple[tuple[int, int], ...] = ()  # GPUs visible to torch
    smi_gpus: tuple[str, ...] = ()  # GPUs nvidia-smi lists, when torch sees none
    smi_capabilities: tuple[tuple[int, int], ...] = ()
    driver_cuda: str | None = None  # the newest CUDA the driver supports (nvidia-smi)
    nvcc_path: str | None = None  # the nvcc torch's extension builder would use
    cuda_home: str | None = None  # its toolkit (exported as CUDA_HOME for the build)
    nvcc_version: str | None = None
    nvcc_note: str | None = None  # why no nvcc was found, where that is not obvious
    mmcv_version: str | None = None
    mmcv_ops_cpu: bool = False  # nms and roi_align run on CPU tensors
    mmcv_ops_cuda: bool | None = None  # ... on CUDA tensors; None: no GPU to try
    mmcv_ext_cuda: bool | None = None  # the compiled extension links CUDA; None: unknown
    mmcv_error: str | None = None  # the ops' error, where they fail
    mem_gb: float = 0.0
    nproc: int = 1
    env_arch_list: str | None = None  # TORCH_CUDA_ARCH_LIST as the user set it
    env_max_jobs: str | None = None
    env_force_cuda: str | None = None


@dataclass
class Plan:
    """What install.sh does with mmcv; ``reasons`` and ``warnings`` say why."""

    build: bool = False
    force_cuda: bool = False
    uninstall: bool = False  # pip uninstall -y mmcv first
    no_cache: bool = False  # pip install --no-cache-dir: never reuse a wheel built earlier
    hide_gpus: bool = False  # CUDA_VISIBLE_DEVICES= for a CPU-only build on a GPU machine
    arch_list: str | None = None  # TORCH_CUDA_ARCH_LIST for a CUDA build
    cuda_home: str | None = None  # CUDA_HOME for a CUDA build: the checked nvcc's toolkit
    max_jobs: int = 1
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # the user's settings cannot be met: install.sh stops

    def shell(self) -> str:
        """Shell assignments for install.sh (``eval``)."""
        values: dict[str, Any] = {
            "MMCV_PLAN_BUILD": int(self.build),
            "MMCV_PLAN_FORCE_CUDA": int(self.force_cuda),
            "MMCV_PLAN_UNINSTALL": int(self.uninstall),
            "MMCV_PLAN_NO_CACHE": int(self.no_cache),
            "MMCV_PLAN_HIDE_GPUS": int(self.hide_gpus),
            "MMCV_PLAN_TORCH_CUDA_ARCH_LIST": self.arch_list or "",
            "MMCV_PLAN_CUDA_HOME": self.cuda_home or "",
            "MMCV_PLAN_MAX_JOBS": self.max_jobs,
        }
        return "\n".join(f"{k}={shlex.quote(str(v))}" for k, v in values.items())

    def summary(self) -> str:
        """One line: what the install will do with mmcv."""
        if not self.build:
            return f"keep the installed mmcv {MMCV_VERSION}"
        what = "CUDA and CPU ops" if self.force_cuda else "CPU ops only"
        steps = ["uninstall mmcv"] if self.uninstall else []
        flags = [f"MAX_JOBS={self.max_jobs}"]
        if self.arch_list:
            flags.append(f"TORCH_CUDA_ARCH_LIST={self.arch_list}")
        if self.hide_gpus:
            flags.append("GPUs hidden from the build")
        if self.no_cache:
            flags.append("--no-cache-dir")
        steps.append(f"build mmcv {MMCV_VERSION} with {what} ({', '.join(flags)})")
        return ", then ".join(steps)


def _version_tuple(text: str | None) -> tuple[int, int] | None:
    match = re.match(r"(\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def _arch(cap: tuple[int, int]) -> str:
    return f"{cap[0]}.{cap[1]}"


def _arch_range(nvcc: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    for since, low, high in _NVCC_ARCH_RANGE:
        if nvcc >= since:
            return low, high
    return (3, 5), (7, 5)


def _cu_tag(version: tuple[int, int]) -> str:
    return f"cu{version[0]}{version[1]}"


def torch_install_command(f: Facts, cuda: tuple[int, int] | None) -> str:
    """The commands that replace this environment's torch by a CUDA build of the same version."""
    version = (f.torch_version or "2.13.0").split("+")[0]
    tag = _cu_tag(cuda) if cuda else "cu128"
    py = shlex.quote(f.python)
    return (
        f"{py} -m pip uninstall -y torch && {py} -m pip install 'torch=={version}' "
        f"--index-url https://download.pytorch.org/whl/{tag}"
    )


def _cuda_blocker(f: Facts, gpu_machine: bool) -> tuple[str | None, str | None]:
    """Why CUDA ops cannot be built (reason, warning), or (None, None) when they can."""
    torch_cuda = _version_tuple(f.torch_cuda)
    if torch_cuda is None:
        reason = f"torch {f.torch_version} is a CPU build: mmcv gets CPU ops only"
        if not gpu_machine:
            return reason, None
        driver = f" (the driver supports CUDA up to {f.driver_cuda})" if f.driver_cuda else ""
        cuda = _version_tuple(f.nvcc_version) or _version_tuple(f.driver_cuda)
        return reason, (
            f"this machine has an NVIDIA GPU ({', '.join(f.smi_gpus)}) but torch "
            f"{f.torch_version} is a CPU build, so every trial runs on the CPU. Install a CUDA "
            f"build of torch{driver}: {torch_install_command(f, cuda)} (use a cuXYZ index that "
            "https://pytorch.org/get-started/locally/ lists for this torch version, not newer "
            "than the driver's CUDA), then rerun `bash scripts/install.sh`: it rebuilds mmcv "
            "with CUDA ops."
        )
    if f.nvcc_path is None:
        where = f.nvcc_note or "not on PATH, not in $CUDA_HOME/bin, not in /usr/local/cuda/bin"
        reason = f"no nvcc ({where}): mmcv gets CPU ops only"
        if not gpu_machine:
            return reason, None
        return reason, (
            f"this machine has a GPU and torch {f.torch_version} is built for CUDA "
            f"{f.torch_cuda}, but there is no nvcc to compile mmcv's CUDA ops, so every CUDA "
            "trial of a model that uses them (NMS, RoIAlign, focal loss, deformable attention: "
            "all detectors) fails with '<op>: implementation for device cuda:0 not found'. Fix: "
            f"install the CUDA toolkit {f.torch_cuda} (nvcc; "
            "https://developer.nvidia.com/cuda-toolkit-archive, or conda's/your distribution's "
            f"cuda-toolkit {f.torch_cuda} package; in Docker use a *-devel CUDA image, *-runtime "
            "images have no nvcc), put its bin/ on PATH or set CUDA_HOME to it, then rerun "
            "`bash scripts/install.sh`."
        )
    nvcc = _version_tuple(f.nvcc_version)
    if nvcc is None:
        return (
            f"{f.nvcc_path} did not report its version: mmcv gets CPU ops only",
            f"`{f.nvcc_path} --version` failed or printed no 'release X.Y'; mmcv's CUDA ops "
            "are not built. Check that nvcc runs, then rerun `bash scripts/install.sh`.",
        )
    if nvcc[0] != torch_cuda[0]:
        return (
            f"nvcc {f.nvcc_version} and torch's CUDA {f.torch_cuda} differ in major version: "
            "mmcv gets CPU ops only",
            f"{f.nvcc_path} is CUDA {f.nvcc_version} but torch {f.torch_version} was built for "
            f"CUDA {f.torch_cuda}; torch refuses to compile extensions across CUDA major "
            "versions ('The detected CUDA version mismatches the version that was used to "
            "compile PyTorch'), so mmcv's CUDA ops are not built. Fix: install the CUDA toolkit "
            f"{torch_cuda[0]}.x and set CUDA_HOME to it, or install a torch built for CUDA "
            f"{f.nvcc_version}: {torch_install_command(f, nvcc)}; then rerun "
            "`bash scripts/install.sh`.",
        )
    return None, None


def _arch_list(f: Facts, nvcc: tuple[int, int], plan: Plan) -> str:
    """TORCH_CUDA_ARCH_LIST: the user's, the GPUs', or the stated default list."""
    if f.env_arch_list:
        plan.reasons.append(f"TORCH_CUDA_ARCH_LIST={f.env_arch_list} (set by you)")
        return f.env_arch_list
    low, high = _arch_range(nvcc)
    caps = f.gpu_capabilities or f.smi_capabilities
    if caps:
        archs: list[str] = []
        for cap in sorted(set(caps)):
            if cap > high:
                plan.warnings.append(
                    f"the GPU's compute capability {_arch(cap)} is newer than nvcc "
                    f"{f.nvcc_version} can target (up to {_arch(high)}): building "
                    f"{_arch(high)}+PTX, which the driver compiles at first use; a newer CUDA "
                    "toolkit (and torch) builds native code"
                )
                archs.append(f"{_arch(high)}+PTX")
            elif cap < low:
                plan.warnings.append(
                    f"nvcc {f.nvcc_version} cannot target compute capability {_arch(cap)} "
                    f"(lowest {_arch(low)}): mmcv's CUDA ops will not run on that GPU"
                )
            else:
                archs.append(_arch(cap))
        if archs:
            listed = ";".join(dict.fromkeys(archs))
            source = "visible GPUs" if f.gpu_capabilities else "GPUs nvidia-smi lists"
            plan.reasons.append(f"TORCH_CUDA_ARCH_LIST={listed}: the {source}' capability")
            return listed
    default = [a for a in _DEFAULT_ARCHS if low <= a <= high]
    listed = ";".join(_arch(a) for a in default) + "+PTX"
    why = (
        "no GPU that nvcc can target"
        if caps
        else "no GPU visible (torch's own detection would fail with an IndexError)"
    )
    plan.reasons.append(
        f"TORCH_CUDA_ARCH_LIST={listed}: {why}, so every architecture nvcc {f.nvcc_version} "
        "supports from Volta/Turing on; set TORCH_CUDA_ARCH_LIST to your GPU's capability to "
        "build faster"
    )
    return listed


def _max_jobs(f: Facts, cuda: bool, plan: Plan) -> int:
    per_job = GB_PER_NVCC_JOB if cuda else GB_PER_CXX_JOB
    kind = "nvcc" if cuda else "C++"
    by_memory = max(1, math.floor(f.mem_gb / per_job)) if f.mem_gb > 0 else f.nproc
    cap = max(1, min(f.nproc, by_memory))
    if f.env_max_jobs:
        try:
            wanted = int(f.env_max_jobs)
        except ValueError:
            wanted = 0
        if wanted >= 1:
            plan.reasons.append(f"MAX_JOBS={wanted} (set by you)")
            if wanted > by_memory:
                plan.warnings.append(
                    f"MAX_JOBS={wanted} with {f.mem_gb:.1f} GB of memory may run out of memory "
                    f"({kind} jobs take about {per_job:g} GB each; {by_memory} would fit)"
                )
            return wanted
        plan.warnings.append(f"MAX_JOBS={f.env_max_jobs!r} is not a positive integer: ignored")
    limit = "memory" if by_memory < f.nproc else "cores"
    plan.reasons.append(
        f"MAX_JOBS={cap}: {f.nproc} cores, {f.mem_gb:.1f} GB memory at about {per_job:g} GB per "
        f"{kind} job (limited by {limit})"
    )
    return cap


def plan(f: Facts) -> Plan:
    """Decide how to install mmcv from the facts; the same facts always give the same plan."""
    p = Plan()
    if f.torch_version is None:
        p.error = "torch is not installed in this environment: install torch first"
        return p
    gpu_machine = f.cuda_available or bool(f.smi_gpus)
    blocker, warning = _cuda_blocker(f, gpu_machine)
    if f.torch_cuda and not f.cuda_available and f.smi_gpus:
        p.warnings.append(
            f"nvidia-smi lists {', '.join(f.smi_gpus)} but torch {f.torch_version} (CUDA "
            f"{f.torch_cuda}) cannot use it"
            + (f"; the driver supports CUDA up to {f.driver_cuda}" if f.driver_cuda else "")
            + ": update the NVIDIA driver, or install a torch built for the driver's CUDA"
        )
    force = f.env_force_cuda
    cuda = blocker is None
    if force == "0":
        cuda = False
        p.reasons.append("FORCE_CUDA=0 (set by you): mmcv gets CPU ops only")
        if f.cuda_available:
            p.warnings.append(
                "FORCE_CUDA=0 on a machine with a GPU: CUDA trials of models that use mmcv's "
                "ops will fail; unset FORCE_CUDA to build them"
            )
    elif force == "1" and blocker is not None:
        p.error = f"FORCE_CUDA=1 (set by you) but CUDA ops cannot be built: {blocker}"
        if warning:
            p.warnings.append(warning)
        return p
    elif blocker is not None:
        p.reasons.append(blocker)
        if warning:
            p.warnings.append(warning)
    else:
        seen = f"GPU visible ({len(f.gpu_capabilities)})" if f.cuda_available else "no GPU visible"
        p.reasons.append(
            f"torch {f.torch_version} is built for CUDA {f.torch_cuda}, nvcc {f.nvcc_version} "
            f"at {f.nvcc_path} has the same major version, {seen}: mmcv gets CUDA ops"
        )
        nvcc_v, torch_v = _version_tuple(f.nvcc_version), _version_tuple(f.torch_cuda)
        if nvcc_v != torch_v:
            p.reasons.append(
                f"nvcc {f.nvcc_version} and torch's CUDA {f.torch_cuda} differ in minor version: "
                "torch warns about it and builds"
            )

    installed = f.mmcv_version == MMCV_VERSION
    if f.mmcv_version is None:
        p.build = True
        p.reasons.append(f"mmcv is not installed: build mmcv {MMCV_VERSION}")
    elif not installed:
        p.build = True
        p.reasons.append(f"mmcv {f.mmcv_version} is installed, {MMCV_VERSION} is needed: build it")
    elif not f.mmcv_ops_cpu:
        p.build = p.uninstall = p.no_cache = True
        p.reasons.append(
            f"mmcv {MMCV_VERSION} is installed but its compiled ops fail ({f.mmcv_error}): "
            "uninstall and rebuild without pip's cache (a cached wheel was built against "
            "another torch or without ops)"
        )
    else:
        has_cuda_ops = f.mmcv_ops_cuda if f.mmcv_ops_cuda is not None else f.mmcv_ext_cuda
        if cuda and has_cuda_ops is False:
            p.build = p.uninstall = p.no_cache = True
            how = (
                f"its ops fail on cuda:0 ({f.mmcv_error})"
                if f.mmcv_ops_cuda is False
                else "its compiled extension does not link CUDA"
            )
            p.reasons.append(
                f"mmcv {MMCV_VERSION} is installed but {how}: uninstall and rebuild with CUDA "
                "ops, without pip's cache (it would reuse the CPU-only wheel)"
            )
        else:
            where = "cpu" + (" and cuda:0" if f.mmcv_ops_cuda else "")
            p.reasons.append(f"mmcv {MMCV_VERSION} is installed and its ops run on {where}")
            if f.cuda_available and f.mmcv_ops_cuda is False:
                p.warnings.append(
                    f"the installed mmcv's ops fail on cuda:0 ({f.mmcv_error}) and cannot be "
                    "rebuilt with CUDA ops here (see above): CUDA trials of detectors will fail"
                )
            if cuda and has_cuda_ops is None:
                p.reasons.append("(no GPU visible to check its CUDA ops on)")

    if not p.build:
        p.max_jobs = f.nproc
        return p
    p.force_cuda = cuda
    if cuda:
        p.no_cache = True
        p.reasons.append(
            "--no-cache-dir: pip's wheel cache does not know whether a wheel has CUDA ops"
        )
        nvcc = _version_tuple(f.nvcc_version) or (0, 0)
        p.arch_list = _arch_list(f, nvcc, p)
        p.cuda_home = f.cuda_home or os.path.dirname(os.path.dirname(f.nvcc_path or ""))
    elif f.cuda_available:
        p.hide_gpus = True
        p.reasons.append(
            "the build runs with CUDA_VISIBLE_DEVICES= (mmcv's setup.py compiles CUDA sources "
            "whenever torch sees a GPU)"
        )
    p.max_jobs = _max_jobs(f, cuda, p)
    return p


# ---------------------------------------------------------------------------------------------
# Facts of this machine


def _run(cmd: list[str], timeout: float = 30) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def toolkit_root(nvcc: str) -> str | None:
    """The CUDA toolkit an nvcc belongs to (has include/cuda_runtime.h), or None.

    ``nvcc`` on PATH may be a symlink or a wrapper script outside the toolkit (torch would then
    take its grandparent folder as CUDA_HOME and miss the headers); nvcc's dry run names the
    toolkit it runs from.
    """
    for path in (nvcc, os.path.realpath(nvcc)):
        home = os.path.dirname(os.path.dirname(path))
        if os.path.isfile(os.path.join(home, "include", "cuda_runtime.h")):
            return home
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.cu")
        open(src, "w").close()
        try:
            out = subprocess.run(
                [nvcc, "--dryrun", "-c", src, "-o", os.path.join(tmp, "probe.o")],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
    match = re.search(r"^#\$ TOP=(.+)$", out.stdout + out.stderr, re.MULTILINE)
    if match:
        home = os.path.normpath(match.group(1).strip())
        if os.path.isfile(os.path.join(home, "include", "cuda_runtime.h")):
            return home
    return None


def find_cuda(env: dict[str, str] | None = None) -> tuple[str | None, str | None, str | None]:
    """(nvcc, CUDA_HOME, note): the toolkit torch's extension builder would use.

    Torch's search order: $CUDA_HOME / $CUDA_PATH, then nvcc on PATH, then /usr/local/cuda. The
    note says why no usable toolkit was found, where that is not obvious.
    """
    env = dict(os.environ) if env is None else env
    home = env.get("CUDA_HOME") or env.get("CUDA_PATH")
    if home:
        nvcc = os.path.join(home, "bin", "nvcc")
        if os.access(nvcc, os.X_OK):
            return nvcc, home, None
        return None, None, f"CUDA_HOME={home} has no bin/nvcc"
    on_path = shutil.which("nvcc", path=env.get("PATH"))
    if on_path:
        root = toolkit_root(on_path)
        if root is None:
            return None, None, f"{on_path} is not inside a CUDA toolkit; set CUDA_HOME"
        nvcc = os.path.join(root, "bin", "nvcc")
        return (nvcc if os.access(nvcc, os.X_OK) else on_path), root, None
    if os.access("/usr/local/cuda/bin/nvcc", os.X_OK):
        return "/usr/local/cuda/bin/nvcc", "/usr/local/cuda", None
    return None, None, None


def nvcc_version(nvcc: str) -> str | None:
    """'12.4' from ``nvcc --version`` ('Cuda compilation tools, release 12.4, V12.4.131')."""
    out = _run([nvcc, "--version"])
    match = re.search(r"release (\d+\.\d+)", out or "")
    return match.group(1) if match else None


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


def memory_gb() -> float:
    """Total memory, or the cgroup's limit where that is lower (containers)."""
    total = 0.0
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            total = int(line.split()[1]) / 1024**2
    for limit_file in (
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ):
        text = _read(limit_file)
        if text and text.isdigit():
            limit = int(text) / 1024**3
            if 0 < limit < (total or math.inf):
                total = limit
    return round(total, 1)


def cpu_count() -> int:
    """Cores this process may use: its affinity, or the cgroup's CPU quota where lower."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    quota = (_read("/sys/fs/cgroup/cpu.max") or "").split()
    if len(quota) == 2 and quota[0].isdigit() and quota[1].isdigit() and int(quota[1]) > 0:
        cores = min(cores, max(1, math.ceil(int(quota[0]) / int(quota[1]))))
    return cores


def nvidia_smi() -> tuple[tuple[str, ...], tuple[tuple[int, int], ...], str | None]:
    """GPU names, compute capabilities and the driver's CUDA version from nvidia-smi."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return (), (), None
    names: list[str] = []
    caps: list[tuple[int, int]] = []
    out = _run([smi, "--query-gpu=name,compute_cap", "--format=csv,noheader"])
    if out is None:  # drivers before 510 do not know compute_cap
        out = _run([smi, "--query-gpu=name", "--format=csv,noheader"])
    for line in (out or "").splitlines():
        parts = [p.strip() for p in line.split(",")]
        if parts and parts[0]:
            names.append(parts[0])
            cap = _version_tuple(parts[1]) if len(parts) > 1 else None
            if cap:
                caps.append(cap)
    match = re.search(r"CUDA Version:\s*(\d+\.\d+)", _run([smi]) or "")
    return tuple(names), tuple(caps), match.group(1) if match else None


def _probe_ops(torch: Any, device: str) -> str | None:
    """Run nms and roi_align on ``device``; the error, or None when they run."""
    try:
        from mmcv.ops import nms, roi_align

        boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0]], device=device)
        nms(boxes, torch.tensor([0.9, 0.8], device=device), 0.5)
        feats = torch.zeros(1, 1, 8, 8, device=device)
        roi_align(feats, torch.tensor([[0.0, 0.0, 0.0, 4.0, 4.0]], device=device), (2, 2))
        if device != "cpu":
            torch.cuda.synchronize()
    except Exception as exc:
        return _first_line(exc)
    return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def extension_links_cuda() -> bool | None:
    """Whether mmcv's compiled extension links CUDA libraries (None: no extension found)."""
    import glob
    import importlib.util
    import mmap

    spec = importlib.util.find_spec("mmcv")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for path in glob.glob(os.path.join(folder, "_ext*.so")):
            try:
                with (
                    open(path, "rb") as fh,
                    mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m,
                ):
                    return any(m.find(lib) >= 0 for lib in (b"libc10_cuda.so", b"libcudart"))
            except (OSError, ValueError):
                return None
    return None


def gather_facts() -> Facts:
    """Read the facts of this machine and environment."""
    env = os.environ
    base: dict[str, Any] = {
        "python": sys.executable,
        "mem_gb": memory_gb(),
        "nproc": cpu_count(),
        "env_arch_list": env.get("TORCH_CUDA_ARCH_LIST") or None,
        "env_max_jobs": env.get("MAX_JOBS") or None,
        "env_force_cuda": env.get("FORCE_CUDA") or None,
    }
    try:
        import torch
    except ImportError:
        return Facts(**base)
    available = bool(torch.cuda.is_available())
    caps = (
        tuple(torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count()))
        if available
        else ()
    )
    smi: tuple[tuple[str, ...], tuple[tuple[int, int], ...], str | None] = ((), (), None)
    if not available:
        smi = nvidia_smi()
    nvcc, cuda_home, note = find_cuda()
    try:
        mmcv_version: str | None = metadata.version("mmcv")
    except metadata.PackageNotFoundError:
        mmcv_version = None
    cpu_error = cuda_error = None
    ops_cuda = ext_cuda = None
    if mmcv_version is not None:
        cpu_error = _probe_ops(torch, "cpu")
        if available and cpu_error is None:
            cuda_error = _probe_ops(torch, "cuda:0")
            ops_cuda = cuda_error is None
        if torch.version.cuda and not available:
            ext_cuda = extension_links_cuda()
    return Facts(
        **base,
        torch_version=str(torch.__version__),
        torch_cuda=torch.version.cuda,
        cuda_available=available,
        gpu_capabilities=caps,
        smi_gpus=smi[0],
        smi_capabilities=smi[1],
        driver_cuda=smi[2],
        nvcc_path=nvcc,
        cuda_home=cuda_home,
        nvcc_version=nvcc_version(nvcc) if nvcc else None,
        nvcc_note=note,
        mmcv_version=mmcv_version,
        mmcv_ops_cpu=mmcv_version is not None and cpu_error is None,
        mmcv_ops_cuda=ops_cuda,
        mmcv_ext_cuda=ext_cuda,
        mmcv_error=cpu_error or cuda_error,
    )


def main(argv: list[str] | None = None) -> int:
    """Print the plan for install.sh; reasons and warnings go to stderr."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--json", action="store_true", help="print facts and plan as JSON")
    mode.add_argument(
        "--verify", action="store_true", help="after a build: fail if mmcv still needs one"
    )
    args = parser.parse_args(argv)
    facts = gather_facts()
    p = plan(facts)
    if args.json:
        print(json.dumps({"facts": asdict(facts), "plan": asdict(p)}, indent=2))
        return 1 if p.error else 0
    if not args.verify:
        for reason in p.reasons:
            print(f"mmcv build plan: {reason}", file=sys.stderr)
    for warning in p.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    if p.error:
        print(f"ERROR: {p.error}", file=sys.stderr)
        return 1
    if args.verify:
        if p.build:
            why = "; ".join(p.reasons)
            print(
                f"ERROR: mmcv {MMCV_VERSION} is not usable after the build: {why}", file=sys.stderr
            )
            return 1
        where = "cpu" + (" and cuda:0" if facts.mmcv_ops_cuda else "")
        print(f"mmcv {MMCV_VERSION} verified: its ops run on {where}", file=sys.stderr)
        return 0
    print(f"mmcv build plan: {p.summary()}", file=sys.stderr)
    print(p.shell())
    return 0


if __name__ == "__main__":
    sys.exit(main())
