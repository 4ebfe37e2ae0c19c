#!/usr/bin/env python3
"""benchsel's GPU check on a bare, offline GPU machine, in two calls of at most 10 minutes.

``python3 scripts/check_gpu_path.py --device-lease`` (or this script) with ``.whl/`` carried
(``bash scripts/gpu_wheelhouse.sh`` makes it). scripts/gpu_lease.md gives the two calls. Step
by step, each printing one verdict line (``ok``, ``FAIL`` or ``skip``):

1. ``machine``: torch, CUDA, the GPU, nvcc, the cores;
2. ``wheelhouse``: ``pip install --no-index --no-deps --target .gpu/site`` of ``.whl/``'s wheels
   (its MANIFEST.json), then ``.gpu/site`` and this checkout go on PYTHONPATH and a ``benchsel``
   launcher into ``.gpu/bin``;
3. ``mmcv build``: mmcv 2.1.0 from the carried source, patched (:func:`patch_mmcv`), with CUDA
   ops for the visible GPU only (``TORCH_CUDA_ARCH_LIST`` from its compute capability,
   ``MAX_JOBS`` from the cores and memory: scripts/mmcv_build_plan.py decides both), into
   ``.gpu/mmcv-wheel``; a later call reuses that wheel (or one carried in ``.whl/`` with its
   ``.json``), and a build cut off by the time limit resumes where it stopped (ninja keeps the
   objects in ``.gpu/mmcv-src``). The wheel also goes to ``$OUT`` to be carried next time;
4. ``mmcv build plan``, ``benchsel doctor``: mmcv's ops run on cuda:0;
5. one short trial per family (:data:`check_gpu_path.TRIALS`) through ``benchsel run`` on the
   built-in sample data, with fp32 and fp16 latency, then ``AMP training``, ``GPU memory
   peaks`` and ``FLOPs CUDA == CPU`` (each trial's count on the GPU against the same model
   counted on the CPU, GPU hidden, while the trials run);
6. ``mmdet benchmark.py``: RTMDet-tiny's inference timed as mmdet's
   tools/analysis_tools/benchmark.py does, and its ratio to benchsel's latency.

``--step auto`` (the default) builds when no usable mmcv wheel exists, else checks, so both
calls are the same command. ``--dry-run`` prints the plan and runs nothing (on a machine without
a GPU every CUDA step says ``skipped: no GPU``). Writes ``gpu-lease.json`` and ``gpu-lease.log``
(each under 1 MiB) to ``$OUT`` (or ``--out``). Exit 0 when nothing failed, 1 otherwise, 2 when
there is no GPU (and not ``--dry-run``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import check_gpu_path as cgp  # noqa: E402
import mmcv_build_plan as mbp  # noqa: E402

WHEELHOUSE = ROOT / ".whl"
GPU = ROOT / ".gpu"  # ignored; stays on a warm machine between calls
SITE = GPU / "site"
BIN = GPU / "bin"
MMCV_SRC = GPU / "mmcv-src"
MMCV_WHEELS = GPU / "mmcv-wheel"
WORK = GPU / "check"
SDIST = f"mmcv-{mbp.MMCV_VERSION}.tar.gz"
REPORT, LOG = "gpu-lease.json", "gpu-lease.log"
MAX_REPORT_BYTES = 1 << 20
MAX_OUT_FILE = 16 << 20  # files back from $OUT: 16 MiB each
SCHEMA = 1

BUDGET_S = 540.0  # of the 600 s a command may run: the rest writes the report
CHECKS_NEED_S = 420.0  # what the checks take on an H200 (estimate; the build call stops before)
# Build estimate, per source file and core (judged from the CPU build of mmcv 2.1.0's ops: about
# 12 minutes for its 79 C++ files on 2 cores, ~15 s a file; nvcc runs a host and a device pass
# over torch's headers for one architecture: ~3x that); filtered_lrelu.cu, the largest kernel
# file (StyleGAN3's op, ~2000 lines of templates), is the critical path.
CPP_S, CU_S, LONGEST_CU_S, LINK_S = 15.0, 45.0, 240.0, 30.0
ITERATIONS = 20
TRIAL_TIMEOUT_S = 150.0
BENCH_MAX_ITER, BENCH_WARMUP, BENCH_LOG_INTERVAL = 200, 5, 50
FLOPS_REL_TOL = 1e-6
# The machine this project is lent (device/KINDS.md): what --dry-run plans for without a GPU.
H200 = mbp.Facts(
    python="python3",
    torch_version="2.11.0+cu130",
    torch_cuda="13.0",
    cuda_available=True,
    gpu_capabilities=((9, 0),),
    nvcc_path="/usr/local/cuda/bin/nvcc",
    cuda_home="/usr/local/cuda",
    nvcc_version="13.0",
    mem_gb=128.0,
    nproc=16,
)


# ---------------------------------------------------------------------------------------------
# The plan: pure functions of the facts, tested on CPU


def cxx_std(torch_version: str | None) -> str:
    """The C++ standard torch's extension builder uses by default: C++20 from torch 2.13 (its
    headers require it there), C++17 before. mmcv's setup.py hard-codes ``-std=c++17``."""
    match = re.match(r"(\d+)\.(\d+)", torch_version or "")
    major_minor = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    return "c++20" if major_minor >= (2, 13) else "c++17"


def build_settings(facts: mbp.Facts) -> dict[str, Any]:
    """How mmcv is built here: mmcv_build_plan's decision for a machine without mmcv."""
    p = mbp.plan(dataclasses.replace(facts, mmcv_version=None, env_force_cuda=None))
    return {
        "cuda_ops": p.force_cuda,
        "TORCH_CUDA_ARCH_LIST": p.arch_list,
        "MAX_JOBS": p.max_jobs,
        "CUDA_HOME": p.cuda_home,
        "cxx_std": cxx_std(facts.torch_version),
        "reasons": p.reasons,
        "warnings": p.warnings,
        "error": p.error,
    }


def count_sources(sdist: Path) -> dict[str, int]:
    """The C++ and CUDA files mmcv's setup.py compiles for a CUDA build (from the sdist)."""
    counts = {"cu": 0, "cpp": 0}
    pattern = re.compile(r"mmcv/ops/csrc/pytorch/(?:cpu/|cuda/)?[^/]+\.(cu|cpp)$")
    with tarfile.open(sdist) as tar:
        for name in tar.getnames():
            match = pattern.search(name)
            if match and ("/cuda/" in name or match.group(1) == "cpp"):
                counts[match.group(1)] += 1
    return counts


def estimate_build_s(counts: dict[str, int], jobs: int) -> float:
    """Seconds the CUDA build should take with ``jobs`` parallel compilers (see CU_S ...)."""
    work = counts["cu"] * CU_S + counts["cpp"] * CPP_S
    return max(LONGEST_CU_S, work / max(1, jobs)) + LINK_S


def machine_facts() -> mbp.Facts:
    """What the plan depends on (mmcv_build_plan's facts without probing an installed mmcv)."""
    import torch

    nvcc, cuda_home, note = mbp.find_cuda()
    available = bool(torch.cuda.is_available())
    caps = (
        tuple(torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count()))
        if available
        else ()
    )
    return mbp.Facts(
        python=sys.executable,
        torch_version=str(torch.__version__),
        torch_cuda=torch.version.cuda,
        cuda_available=available,
        gpu_capabilities=caps,
        nvcc_path=nvcc,
        cuda_home=cuda_home,
        nvcc_version=mbp.nvcc_version(nvcc) if nvcc else None,
        nvcc_note=note,
        mem_gb=mbp.memory_gb(),
        nproc=mbp.cpu_count(),
        env_arch_list=os.environ.get("TORCH_CUDA_ARCH_LIST") or None,
        env_max_jobs=os.environ.get("MAX_JOBS") or None,
    )


def check_step_names() -> list[str]:
    """The checks after the build, in order (one verdict line each)."""
    trials = [f"trial {family} ({arch})" for family, arch, _, _ in cgp.TRIALS]
    after = ["AMP training", "GPU memory peaks", "FLOPs CUDA == CPU", "mmdet benchmark.py"]
    return ["mmcv build plan", "benchsel doctor", *trials, *after]


def lease_plan(facts: mbp.Facts, counts: dict[str, int], mmcv_ready: bool) -> dict[str, Any]:
    """What the lease does on a machine with these facts: the steps of each call, in order."""
    settings = build_settings(facts)
    estimate = estimate_build_s(counts, int(settings["MAX_JOBS"]))
    env = [f"MMCV_WITH_OPS=1 FORCE_CUDA={int(settings['cuda_ops'])}"]
    env.append(f"MAX_JOBS={settings['MAX_JOBS']}")
    if settings["TORCH_CUDA_ARCH_LIST"]:
        env.append(f"TORCH_CUDA_ARCH_LIST={settings['TORCH_CUDA_ARCH_LIST']}")
    build = (
        f"build mmcv {mbp.MMCV_VERSION} ({' '.join(env)}, -std={settings['cxx_std']}): "
        f"{counts['cu']} .cu + {counts['cpp']} .cpp files, about {estimate / 60:.1f} min"
    )
    checks = check_step_names()
    first = ["machine", "wheelhouse", build]
    calls = [first + checks] if mmcv_ready else [[*first, "mmcv build plan"], first[:2] + checks]
    return {
        "settings": settings,
        "build_estimate_s": round(estimate),
        "fits_one_call": estimate < BUDGET_S,
        "calls": calls,
    }


# ---------------------------------------------------------------------------------------------
# Recording


@dataclasses.dataclass
class Check:
    name: str
    status: str  # "ok", "FAIL", or "skipped: <why>"
    detail: str
    seconds: float = 0.0
    data: dict[str, Any] = dataclasses.field(default_factory=dict)


class Lease:
    """The checks made so far, the log, and the clock."""

    def __init__(self, budget_s: float, out: Path | None) -> None:
        self.start = time.monotonic()
        self.budget_s = budget_s
        self.out = out
        self.checks: list[Check] = []
        self.log_lines: list[str] = []

    def remaining(self) -> float:
        return self.budget_s - (time.monotonic() - self.start)

    def log(self, text: str) -> None:
        stamp = f"[{time.monotonic() - self.start:6.1f}s]"
        self.log_lines.extend(f"{stamp} {t}" for t in text.rstrip().splitlines() or [""])

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        mark = {"ok": "ok  ", "FAIL": "FAIL"}.get(check.status, "skip")
        why = "" if check.status in ("ok", "FAIL") else f"({check.status}) "
        line = f"{mark} {check.name}: {why}{check.detail}"
        print(line, flush=True)
        self.log(line)
        return check

    def skip(self, names: Sequence[str], why: str) -> None:
        for name in names:
            self.add(Check(name, f"skipped: {why}", ""))

    @contextlib.contextmanager
    def timed(self) -> Iterator[list[float]]:
        box = [time.monotonic()]
        yield box
        box[0] = time.monotonic() - box[0]

    def report(self, meta: dict[str, Any]) -> dict[str, Any]:
        counts = {"ok": 0, "FAIL": 0, "skipped": 0}
        for c in self.checks:
            counts["skipped" if c.status.startswith("skipped") else c.status] += 1
        return {
            "schema": SCHEMA,
            **meta,
            "wall_s": round(time.monotonic() - self.start, 1),
            "passed": counts["ok"],
            "failed": counts["FAIL"],
            "skipped": counts["skipped"],
            "checks": [dataclasses.asdict(c) for c in self.checks],
        }

    def write(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Write the JSON report and the log (each under 1 MiB) to ``out``."""
        data = self.report(meta)
        if self.out is None:
            return data
        self.out.mkdir(parents=True, exist_ok=True)
        text = json.dumps(data, indent=1, default=str)
        if len(text.encode()) > MAX_REPORT_BYTES:  # keep the verdicts, shorten the data
            for c in data["checks"]:
                c["data"] = {"truncated": True}
            text = json.dumps(data, indent=1, default=str)
        (self.out / REPORT).write_text(text)
        log = "\n".join(self.log_lines) + "\n"
        if len(log.encode()) > MAX_REPORT_BYTES:
            log = "[log truncated: first and last 400 KiB]\n" + log[:400_000] + "\n...\n"
            log += "\n".join(self.log_lines)[-400_000:]
        (self.out / LOG).write_text(log)
        return data


def _run(
    cmd: Sequence[object], lease: Lease, timeout: float, **kw: Any
) -> subprocess.CompletedProcess[str] | None:
    """Run a command in its own process group; log its tail; None when it ran out of time."""
    lease.log(f"$ {' '.join(map(str, cmd))}")
    with subprocess.Popen(
        list(map(str, cmd)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **kw,
    ) as proc:
        try:
            out, _ = proc.communicate(timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            lease.log(_tail(out or "", 40))
            lease.log(f"(stopped after {timeout:.0f} s)")
            return None
    lease.log(_tail(out or "", 40))
    return subprocess.CompletedProcess(proc.args, proc.returncode, out or "", "")


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------
# Steps on the GPU machine


def manifest_files(wheelhouse: Path = WHEELHOUSE) -> list[Path]:
    """The wheels .whl/MANIFEST.json lists (the mmcv source is built, not installed)."""
    data = json.loads((wheelhouse / "MANIFEST.json").read_text())
    return [wheelhouse / e["file"] for e in data["entries"] if e["file"].endswith(".whl")]


def set_paths() -> None:
    """.gpu/site and this checkout on PYTHONPATH (here and for every child), a benchsel
    launcher in .gpu/bin on PATH."""
    for path in (str(ROOT), str(SITE)):
        if path not in sys.path:
            sys.path.insert(0, path)
    parts = [str(SITE), str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(":"))]
    os.environ["PYTHONPATH"] = ":".join(dict.fromkeys(parts))
    BIN.mkdir(parents=True, exist_ok=True)
    launcher = BIN / "benchsel"
    launcher.write_text(
        f"#!{sys.executable}\nimport sys\nfrom benchsel.cli import app\nsys.exit(app())\n"
    )
    launcher.chmod(0o755)
    os.environ["PATH"] = f"{BIN}:{os.environ.get('PATH', '')}"
    os.environ.setdefault("PYTHONUNBUFFERED", "1")


def install_wheelhouse(lease: Lease) -> Check:
    """pip install the manifest's wheels into .gpu/site (skipped when already done)."""
    if not (WHEELHOUSE / "MANIFEST.json").exists():
        return Check("wheelhouse", "FAIL", ".whl/MANIFEST.json missing: carry .whl")
    files = manifest_files()
    digest = hashlib.sha256("\n".join(sorted(f.name for f in files)).encode()).hexdigest()
    stamp = SITE / ".benchsel-wheelhouse"
    if stamp.exists() and stamp.read_text() == digest:
        return Check("wheelhouse", "ok", f"{len(files)} wheels already in {SITE}")
    cmd = [
        sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
        "--no-cache-dir", "--upgrade", "--disable-pip-version-check", "--target", SITE, *files,
    ]  # fmt: skip
    with lease.timed() as t:
        proc = _run(cmd, lease, timeout=min(240.0, lease.remaining()))
    if proc is None or proc.returncode != 0:
        return Check(
            "wheelhouse",
            "FAIL",
            f"pip install failed: {_tail(proc.stdout, 3) if proc else 'timeout'}",
        )
    stamp.write_text(digest)
    size = sum(f.stat().st_size for f in files) / 2**20
    return Check("wheelhouse", "ok", f"{len(files)} wheels ({size:.1f} MiB) into {SITE}", t[0])


def patch_mmcv(src: Path, std: str) -> list[str]:
    """Patch mmcv 2.1.0's source for current torch and CUDA 13 (idempotent); what was done.

    - setup.py imports ``pkg_resources``, which setuptools 81 removed: importlib.metadata and
      packaging stand in;
    - ``#include <THC/THCAtomics.cuh>``: torch's wheels no longer ship THC/ (torch 2.13's has
      none); ``ATen/cuda/Atomic.cuh`` is what that header included;
    - ``-std=c++17`` in setup.py: torch 2.13+ headers need C++20 (``cxx_std``).
    """
    done = []
    setup = src / "setup.py"
    text = setup.read_text()
    old = "from pkg_resources import DistributionNotFound, get_distribution, parse_version"
    if old in text:
        text = text.replace(
            old,
            "from importlib.metadata import PackageNotFoundError as DistributionNotFound\n"
            "from importlib.metadata import version as get_distribution\n"
            "from packaging.version import parse as parse_version",
        )
        done.append("setup.py: pkg_resources -> importlib.metadata + packaging")
    if std != "c++17" and "-std=c++17" in text:
        text = text.replace("-std=c++17", f"-std={std}")
        done.append(f"setup.py: -std=c++17 -> -std={std}")
    setup.write_text(text)
    csrc = src / "mmcv" / "ops" / "csrc"
    for path in sorted(csrc.rglob("*")):
        if path.suffix in (".hpp", ".cu", ".cuh", ".h", ".cpp") and path.is_file():
            code = path.read_text(errors="replace")
            if "<THC/THCAtomics.cuh>" in code:
                path.write_text(code.replace("<THC/THCAtomics.cuh>", "<ATen/cuda/Atomic.cuh>"))
                done.append(f"{path.relative_to(src)}: THC/THCAtomics.cuh -> ATen/cuda/Atomic.cuh")
    return done


def _wheel_meta(facts: mbp.Facts, settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "torch": facts.torch_version,
        "cuda": facts.torch_cuda,
        "arch_list": settings["TORCH_CUDA_ARCH_LIST"],
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }


def find_mmcv_wheel(facts: mbp.Facts, settings: dict[str, Any]) -> Path | None:
    """A CUDA mmcv wheel built for this torch and GPU: in .gpu/mmcv-wheel, or carried in .whl
    (each beside a ``.json`` saying what it was built for)."""
    want = _wheel_meta(facts, settings)
    for folder in (MMCV_WHEELS, WHEELHOUSE):
        for wheel in sorted(folder.glob(f"mmcv-{mbp.MMCV_VERSION}-*.whl")):
            meta = wheel.with_name(wheel.name + ".json")
            if meta.exists() and json.loads(meta.read_text()) == want:
                return wheel
    return None


def build_mmcv(lease: Lease, facts: mbp.Facts, settings: dict[str, Any]) -> Check:
    """Build the CUDA mmcv wheel (resuming an interrupted build), within the time left."""
    sdist = WHEELHOUSE / SDIST
    if not sdist.exists():
        return Check("mmcv build", "FAIL", f"{sdist} missing: carry .whl")
    if settings["error"] or not settings["cuda_ops"]:
        why = settings["error"] or "; ".join(settings["reasons"] + settings["warnings"])
        return Check("mmcv build", "FAIL", f"no CUDA build possible here: {why}")
    src = MMCV_SRC / f"mmcv-{mbp.MMCV_VERSION}"
    if not src.exists():
        MMCV_SRC.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdist) as tar:
            tar.extractall(MMCV_SRC, filter="data")
    patches = patch_mmcv(src, settings["cxx_std"])
    for p in patches:
        lease.log(f"patched {p}")
    counts = count_sources(sdist)
    estimate = estimate_build_s(counts, int(settings["MAX_JOBS"]))
    objects_before = len(glob.glob(str(src / "build" / "**" / "*.o"), recursive=True))
    env = dict(os.environ)
    env.update(
        MMCV_WITH_OPS="1",
        FORCE_CUDA="1",
        MAX_JOBS=str(settings["MAX_JOBS"]),
        TORCH_CUDA_ARCH_LIST=str(settings["TORCH_CUDA_ARCH_LIST"]),
    )
    if settings["CUDA_HOME"]:
        env["CUDA_HOME"] = settings["CUDA_HOME"]
        env["PATH"] = f"{settings['CUDA_HOME']}/bin:{env['PATH']}"
    MMCV_WHEELS.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "setup.py", "bdist_wheel", "-d", MMCV_WHEELS]
    lease.log(
        f"build: {counts} files, estimate {estimate:.0f} s, objects already built "
        f"{objects_before}; env MAX_JOBS={env['MAX_JOBS']} "
        f"TORCH_CUDA_ARCH_LIST={env['TORCH_CUDA_ARCH_LIST']}"
    )
    with lease.timed() as t:
        proc = _run(cmd, lease, timeout=lease.remaining() - 20, cwd=src, env=env)
    objects = len(glob.glob(str(src / "build" / "**" / "*.o"), recursive=True))
    total = counts["cu"] + counts["cpp"]
    data = {
        "seconds": round(t[0], 1),
        "estimate_s": round(estimate),
        "sources": counts,
        "objects_before": objects_before,
        "objects": objects,
        "patches": patches,
        **_wheel_meta(facts, settings),
        "MAX_JOBS": settings["MAX_JOBS"],
    }
    if proc is None:
        return Check(
            "mmcv build",
            "FAIL",
            f"cut off after {t[0]:.0f} s with {objects}/{total} objects built (estimate "
            f"{estimate:.0f} s); run the same command again at once: the build resumes",
            t[0],
            data,
        )
    wheels = sorted(MMCV_WHEELS.glob(f"mmcv-{mbp.MMCV_VERSION}-*.whl"), key=os.path.getmtime)
    if proc.returncode != 0 or not wheels:
        errors = [t for t in proc.stdout.splitlines() if "error" in t.lower()][:8]
        data["errors"] = errors
        return Check(
            "mmcv build",
            "FAIL",
            f"exit {proc.returncode} after {t[0]:.0f} s: "
            + (" | ".join(errors[:3]) or _tail(proc.stdout, 3)),
            t[0],
            data,
        )
    wheel = wheels[-1]
    wheel.with_name(wheel.name + ".json").write_text(json.dumps(_wheel_meta(facts, settings)))
    size = wheel.stat().st_size
    data["wheel"], data["wheel_mib"] = wheel.name, round(size / 2**20, 1)
    if lease.out is not None and size < MAX_OUT_FILE:
        lease.out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(wheel, lease.out / wheel.name)
        shutil.copy2(wheel.with_name(wheel.name + ".json"), lease.out / (wheel.name + ".json"))
        data["returned"] = True
    how = f"{objects - objects_before} objects compiled" + (
        f", {objects_before} reused" if objects_before else ""
    )
    return Check(
        "mmcv build",
        "ok",
        f"built in {t[0]:.0f} s (estimate {estimate:.0f} s; {how}; MAX_JOBS="
        f"{settings['MAX_JOBS']}, TORCH_CUDA_ARCH_LIST={settings['TORCH_CUDA_ARCH_LIST']}): "
        f"{wheel.name}, {size / 2**20:.1f} MiB",
        t[0],
        data,
    )


def install_mmcv(lease: Lease, wheel: Path) -> str | None:
    """Install the built wheel into .gpu/site; the error, or None."""
    stamp = SITE / ".benchsel-mmcv"
    key = f"{wheel}:{wheel.stat().st_mtime_ns}"
    if stamp.exists() and stamp.read_text() == key:
        return None
    cmd = [
        sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
        "--upgrade", "--disable-pip-version-check", "--target", SITE, wheel,
    ]  # fmt: skip
    proc = _run(cmd, lease, timeout=120)
    if proc is None or proc.returncode != 0:
        return f"pip install {wheel.name} failed"
    stamp.write_text(key)
    return None


# ---------------------------------------------------------------------------------------------
# Checks


def trial_classes(task: str) -> Any:
    """The class spec a trial on the built-in sample data uses (pipeline.trial.class_spec)."""
    from benchsel.adapters.base import ClassSpec
    from benchsel.data.sample import CLASSES, THINGS

    if task in ("detection", "instance"):
        return ClassSpec.things(THINGS)
    if task == "semantic":
        return ClassSpec.semantic(CLASSES)
    return ClassSpec(tuple(CLASSES), len(THINGS))


def flops_worker(path: Path) -> int:
    """Count every trial's model on the CPU (run with the GPU hidden); write JSON to ``path``."""
    import torch

    from benchsel.adapters import build_model
    from benchsel.profiling.complexity import count_complexity

    torch.set_num_threads(4)
    out: dict[str, Any] = {}
    for _, arch, task, variant in cgp.TRIALS:
        size = None if arch in cgp.FIXED_SIZE else (cgp.SIZE, cgp.SIZE)
        try:
            model = build_model(
                arch,
                trial_classes(task),
                variant=None if variant == "default" else variant,
                input_size=size,
                device="cpu",
            )
            c = count_complexity(model)
            out[f"{arch}/{variant}"] = {"gflops": c.gflops, "params_m": c.params_m}
        except Exception as exc:
            out[f"{arch}/{variant}"] = {"error": f"{type(exc).__name__}: {exc}"}
        path.write_text(json.dumps(out))
    return 0


def benchmark_worker(store_path: Path, path: Path) -> int:
    """RTMDet-tiny's trained model timed as mmdet's tools/analysis_tools/benchmark.py does
    (mmdet.utils.benchmark.InferenceBenchmark.run_once): per image, ``torch.cuda.synchronize()``,
    ``time.perf_counter()``, ``model.test_step(data)`` under ``torch.no_grad()``, synchronize
    again; the first 5 iterations are warm-up; fps = timed images / summed time, logged every 50
    images. Here at most 200 iterations (upstream: 2000) over the trial's val images, whose test
    pipeline runs beforehand (upstream: in the data loader's workers)."""
    import numpy as np
    import torch
    from mmengine.dataset import pseudo_collate
    from PIL import Image

    from benchsel.adapters import build_model
    from benchsel.store import open_store

    with open_store(store_path, must_exist=True) as store:
        record = next(t for t in store.trials() if t.arch_id == "rtmdet-tiny")
    model = build_model(
        "rtmdet-tiny",
        trial_classes("detection"),
        input_size=(cgp.SIZE, cgp.SIZE),
        device="cuda:0",
        checkpoint=record.checkpoint_path,
    )
    net = model.model.eval()
    files = sorted(
        glob.glob(str(store_path.parent.parent / "**" / "images" / "*.png"), recursive=True)
    )
    images = [np.asarray(Image.open(f).convert("RGB")) for f in files[:12]]
    if not images:
        images = [np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)]
    batches = []
    pipeline = model._pipeline  # type: ignore[attr-defined]  # MMDetModel's test pipeline
    for i, image in enumerate(images):
        bgr = np.ascontiguousarray(image[..., ::-1])
        batches.append(pseudo_collate([pipeline({"img": bgr, "img_id": i})]))
    pure, fps_log = 0.0, []
    for i in range(BENCH_MAX_ITER):
        data = batches[i % len(batches)]
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad():
            net.test_step(data)
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        if i >= BENCH_WARMUP:
            pure += elapsed
            if (i + 1) % BENCH_LOG_INTERVAL == 0:
                fps_log.append((i + 1 - BENCH_WARMUP) / pure)
    fps = (BENCH_MAX_ITER - BENCH_WARMUP) / pure
    path.write_text(
        json.dumps(
            {
                "fps": fps,
                "ms_per_img": 1000.0 / fps,
                "fps_log": fps_log,
                "iters": BENCH_MAX_ITER,
                "warmup": BENCH_WARMUP,
                "images": len(images),
                "benchsel": {k: v for k, v in record.metrics.items() if k.startswith("latency_")},
            }
        )
    )
    return 0


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and value == value else None


def amp_check(records: Sequence[Any]) -> Check:
    """Training used AMP where the catalog turns it on, fp32 (with the reason) where off."""
    from benchsel.catalog import load_catalog

    catalog = load_catalog()
    on: list[str] = []
    off: list[str] = []
    wrong: list[str] = []
    for r in records:
        training = (r.conditions or {}).get("training") or {}
        if not training:
            continue
        arch = catalog.get(r.arch_id)
        amp = training.get("amp")
        if amp != arch.amp_default or (not amp and not training.get("amp_off_because")):
            wrong.append(f"{r.arch_id} amp={amp} (catalog {arch.amp_default})")
        (on if amp else off).append(r.arch_id)
    if not on and not off:
        return Check("AMP training", "FAIL", "no trial trained")
    detail = (
        f"AMP on: {', '.join(on) or 'none'}; fp32 (amp_off_because): {', '.join(off) or 'none'}"
    )
    return Check("AMP training", "FAIL" if wrong else "ok", "; ".join(wrong) or detail)


def memory_check(rows: Sequence[dict[str, Any]], total_gib: float) -> Check:
    """Every trial has CUDA memory peaks for training and fp32/fp16 inference, alloc <= reserved
    <= the card."""
    keys = ("train_gpu_alloc_peak_gib", "train_gpu_reserved_peak_gib",
            "infer_gpu_alloc_peak_gib", "infer_gpu_alloc_peak_gib_fp16")  # fmt: skip
    bad, peaks = [], {}
    for row in rows:
        if row.get("status") != "ok":
            continue
        values = {k: _num(row.get(k)) for k in keys}
        arch = str(row.get("arch_id"))
        missing = [k for k, v in values.items() if v is None or v <= 0]
        reserved = _num(row.get("train_gpu_reserved_peak_gib")) or 0.0
        alloc = values["train_gpu_alloc_peak_gib"] or 0.0
        if missing:
            bad.append(f"{arch}: no {', '.join(missing)}")
        elif alloc > reserved or reserved > total_gib:
            bad.append(f"{arch}: alloc {alloc:.2f} > reserved {reserved:.2f} GiB or > card")
        peaks[arch] = values
    if not peaks:
        return Check("GPU memory peaks", "FAIL", "no trial finished")
    summary = ", ".join(
        f"{a} {v['train_gpu_alloc_peak_gib'] or 0:.2f}/{v['infer_gpu_alloc_peak_gib'] or 0:.2f}"
        for a, v in peaks.items()
    )
    return Check(
        "GPU memory peaks",
        "FAIL" if bad else "ok",
        "; ".join(bad) or f"train/infer alloc peak GiB: {summary}",
        data={"peaks": peaks},
    )


def flops_check(rows: Sequence[dict[str, Any]], cpu: dict[str, Any]) -> Check:
    """Each trial's GFLOPs, counted on the GPU (mmcv's CUDA ops), equal the CPU count."""
    bad, same = [], []
    for _, arch, _, variant in cgp.TRIALS:
        row = next(
            (r for r in rows if r.get("arch_id") == arch and r.get("variant") == variant), None
        )
        ref = cpu.get(f"{arch}/{variant}")
        gpu = _num(row.get("gflops")) if row else None
        if ref is None or "error" in ref:
            bad.append(f"{arch}: CPU count failed ({(ref or {}).get('error', 'not counted')})")
        elif gpu is None:
            bad.append(f"{arch}: no GPU count")
        elif abs(gpu - ref["gflops"]) > FLOPS_REL_TOL * max(1.0, abs(ref["gflops"])):
            bad.append(f"{arch}: GPU {gpu:.4f} vs CPU {ref['gflops']:.4f} GFLOPs")
        else:
            same.append(f"{arch} {gpu:.3f}")
    return Check(
        "FLOPs CUDA == CPU",
        "FAIL" if bad else "ok",
        "; ".join(bad) or f"GFLOPs equal on both devices: {', '.join(same)}",
        data={"cpu": cpu},
    )


def benchmark_check(result: dict[str, Any]) -> Check:
    """mmdet's benchmark.py time against benchsel's: ratio to predict p50 within 0.5-2."""
    ms = result["ms_per_img"]
    ours = result["benchsel"]
    ratios = {
        phase: ms / v
        for phase in ("predict", "forward", "e2e")
        if (v := _num(ours.get(f"latency_{phase}_p50_ms")))
    }
    if "predict" not in ratios:
        return Check(
            "mmdet benchmark.py", "FAIL", f"{ms:.2f} ms/img; no benchsel predict p50", data=result
        )
    text = ", ".join(
        f"{k} p50 {ours[f'latency_{k}_p50_ms']:.2f} ms (x{r:.2f})" for k, r in ratios.items()
    )
    ok = 0.5 <= ratios["predict"] <= 2.0
    return Check(
        "mmdet benchmark.py",
        "ok" if ok else "FAIL",
        f"RTMDet-tiny {ms:.2f} ms/img ({result['fps']:.1f} fps, mean of "
        f"{result['iters'] - result['warmup']} after {result['warmup']} warm-up) vs benchsel "
        f"{text}; mmdet/benchsel predict {'within' if ok else 'outside'} 0.5-2",
        data={**result, "ratios": ratios},
    )


def run_checks(lease: Lease, facts: mbp.Facts) -> None:
    """doctor, the trials, AMP, memory, FLOPs, the benchmark: as far as the time allows."""
    names_after_doctor = check_step_names()[2:]
    ok, detail = cgp.check_build_plan(sys.executable)
    lease.add(Check("mmcv build plan", "ok" if ok else "FAIL", detail))
    benchsel = str(BIN / "benchsel")
    with lease.timed() as t:
        ok, detail = cgp.check_doctor(benchsel)
    lease.add(Check("benchsel doctor", "ok" if ok else "FAIL", detail, t[0]))
    if lease.remaining() < 120:
        lease.skip(names_after_doctor, "out of time")
        return
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    import yaml

    suite = WORK / "gpu-check.yaml"
    suite.write_text(yaml.safe_dump(cgp.suite_yaml(WORK / "results", ITERATIONS), sort_keys=False))
    cpu_json = WORK / "flops-cpu.json"
    cpu_env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="4")
    cpu_log = (WORK / "flops-cpu.log").open("w")
    flops_proc = subprocess.Popen(
        [sys.executable, __file__, "--flops-worker", str(cpu_json)],
        env=cpu_env,
        stdout=cpu_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    reserve = 75.0  # the benchmark and the report
    cmd = [benchsel, "run", suite, "--fresh", "--trial-timeout", str(TRIAL_TIMEOUT_S)]
    with lease.timed() as t:
        proc = _run(cmd, lease, timeout=lease.remaining() - reserve)
    lease.log(f"benchsel run: {t[0]:.0f} s" + (" (cut off)" if proc is None else ""))
    store = WORK / "results" / "gpu-check.sqlite"
    rows: list[dict[str, Any]] = []
    if store.exists():
        res = _run([benchsel, "results", store, "--json"], lease, timeout=60)
        with contextlib.suppress(json.JSONDecodeError, AttributeError):
            rows = json.loads(res.stdout) if res else []
    for (_, arch, _, variant), (ok, name, detail) in zip(
        cgp.TRIALS, cgp.trial_lines(rows), strict=True
    ):
        row = next(
            (r for r in rows if r.get("arch_id") == arch and r.get("variant") == variant), {}
        )
        status = "ok" if ok else ("FAIL" if proc is not None or row else "skipped: out of time")
        lease.add(Check(name, status, detail, float(row.get("wall_s") or 0.0)))
    records: list[Any] = []
    if store.exists():
        from benchsel.store import open_store

        with open_store(store, must_exist=True) as s:
            records = s.trials()
    lease.add(amp_check(records))
    import torch

    total_gib = torch.cuda.get_device_properties(0).total_memory / 2**30
    lease.add(memory_check(rows, total_gib))
    try:
        flops_proc.wait(timeout=max(1.0, min(60.0, lease.remaining() - 45)))
    except subprocess.TimeoutExpired:
        os.killpg(flops_proc.pid, signal.SIGKILL)
    cpu_log.close()
    cpu = json.loads(cpu_json.read_text()) if cpu_json.exists() else {}
    lease.log("flops worker: " + _tail((WORK / "flops-cpu.log").read_text(), 10))
    lease.add(flops_check(rows, cpu))
    if not any(r.get("arch_id") == "rtmdet-tiny" and r.get("status") == "ok" for r in rows):
        lease.add(Check("mmdet benchmark.py", "FAIL", "no RTMDet-tiny trial to time"))
        return
    if lease.remaining() < 25:
        lease.skip(["mmdet benchmark.py"], "out of time")
        return
    bench_json = WORK / "benchmark.json"
    cmd2 = [sys.executable, __file__, "--benchmark-worker", str(store), str(bench_json)]
    proc2 = _run(cmd2, lease, timeout=lease.remaining() - 10)
    if proc2 is None or proc2.returncode != 0 or not bench_json.exists():
        tail = _tail(proc2.stdout, 2) if proc2 else "out of time"
        lease.add(Check("mmdet benchmark.py", "FAIL", f"worker failed: {tail}"))
        return
    lease.add(benchmark_check(json.loads(bench_json.read_text())))


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", choices=("auto", "build", "check"), default="auto")
    parser.add_argument("--dry-run", action="store_true", help="print the plan; run nothing")
    parser.add_argument("--out", type=Path, help="report folder (default: $OUT, else none)")
    parser.add_argument("--budget-s", type=float, default=BUDGET_S, help="stop work after this")
    parser.add_argument("--flops-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--benchmark-worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.flops_worker:
        set_paths()
        return flops_worker(args.flops_worker)
    if args.benchmark_worker:
        set_paths()
        return benchmark_worker(*args.benchmark_worker)

    out = args.out or (Path(os.environ["OUT"]) if os.environ.get("OUT") else None)
    lease = Lease(args.budget_s, out)
    facts = machine_facts()
    gpu = facts.cuda_available
    planned_for = facts if gpu else H200
    sdist = WHEELHOUSE / SDIST
    counts = count_sources(sdist) if sdist.exists() else {"cu": 0, "cpp": 0}
    settings = build_settings(facts)
    ready = gpu and find_mmcv_wheel(facts, settings) is not None
    plan = lease_plan(planned_for, counts, ready)
    meta: dict[str, Any] = {
        "mode": "dry-run" if args.dry_run else "lease",
        "step": args.step,
        "machine": {
            "torch": facts.torch_version,
            "torch_cuda": facts.torch_cuda,
            "gpu": gpu,
            "capabilities": [list(c) for c in facts.gpu_capabilities],
            "nvcc": facts.nvcc_version,
            "cores": facts.nproc,
            "mem_gb": facts.mem_gb,
        },
        "plan_for": "this machine" if gpu else "the H200 lease (no GPU here)",
        "plan": plan,
        "wheelhouse": str(WHEELHOUSE) if (WHEELHOUSE / "MANIFEST.json").exists() else None,
    }
    fits = "fits" if plan["fits_one_call"] else "does NOT fit"
    print(
        f"plan for {meta['plan_for']}: build estimate {plan['build_estimate_s']} s "
        f"({fits} one {BUDGET_S:.0f} s call)"
    )
    for i, steps in enumerate(plan["calls"], 1):
        print(f"  call {i}: " + "; ".join(steps))
    for w in plan["settings"]["warnings"]:
        print(f"  warning: {w}")
    build_names = ["machine", "wheelhouse", "mmcv build"]
    check_names = check_step_names()
    if args.dry_run or not gpu:
        why = "dry run" if gpu else "no GPU"
        ok, detail = cgp.check_torch()
        lease.add(Check("machine", "ok" if ok else f"skipped: {why}", detail))
        has = (WHEELHOUSE / "MANIFEST.json").exists()
        lease.add(
            Check(
                "wheelhouse",
                "ok" if has else "FAIL",
                f"{len(manifest_files())} wheels in .whl/, mmcv source "
                f"{'present' if sdist.exists() else 'MISSING'}" if has
                else ".whl/MANIFEST.json missing: bash scripts/gpu_wheelhouse.sh",
            )
        )  # fmt: skip
        lease.skip(build_names[2:] + check_names, why)
        report = lease.write(meta)
        return (1 if report["failed"] else 0) if args.dry_run else 2

    ok, detail = cgp.check_torch()
    lease.add(Check("machine", "ok", f"{detail}; nvcc {facts.nvcc_version}, {facts.nproc} cores"))
    check = lease.add(install_wheelhouse(lease))
    if check.status != "ok":
        lease.skip(build_names[2:] + check_names, "no wheelhouse")
        return _finish(lease, meta)
    set_paths()
    wheel = find_mmcv_wheel(facts, settings)
    if wheel is None and args.step == "check":
        lease.add(Check("mmcv build", "FAIL", "no built mmcv wheel: run --step build first"))
        lease.skip(check_names, "no mmcv")
        return _finish(lease, meta)
    if wheel is None:
        check = lease.add(build_mmcv(lease, facts, settings))
        wheel = find_mmcv_wheel(facts, settings)
        if wheel is None:
            lease.skip(check_names, "mmcv not built")
            return _finish(lease, meta)
    else:
        lease.add(Check("mmcv build", "ok", f"reused {wheel}"))
    error = install_mmcv(lease, wheel)
    if error:
        lease.add(Check("mmcv build plan", "FAIL", error))
        lease.skip(check_names[1:], "mmcv not installed")
        return _finish(lease, meta)
    if args.step == "build" or (args.step == "auto" and lease.remaining() < CHECKS_NEED_S):
        ok, detail = cgp.check_build_plan(sys.executable)
        lease.add(Check("mmcv build plan", "ok" if ok else "FAIL", detail))
        print("next: the same command again (at once, while the machine is warm) runs the checks")
        lease.log("checks left for the next call")
        return _finish(lease, meta)
    run_checks(lease, facts)
    return _finish(lease, meta)


def _finish(lease: Lease, meta: dict[str, Any]) -> int:
    report = lease.write(meta)
    where = f"; {REPORT} and {LOG} in {lease.out}" if lease.out else ""
    print(
        f"{report['passed']} ok, {report['failed']} FAIL, {report['skipped']} skipped in "
        f"{report['wall_s']:.0f} s{where}"
    )
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
