#!/usr/bin/env python3
"""Check benchsel's GPU path end to end on a machine with an NVIDIA GPU.

Run it with the environment's python after `make install`:

    .venv/bin/python scripts/check_gpu_path.py [--out DIR] [--iterations 20]

It prints one line per check, ``ok`` or ``FAIL`` with the detail: torch's CUDA build and device,
what the mmcv install would do (scripts/mmcv_build_plan.py), `benchsel doctor`, then one short
trial per family (fine-tuning on the built-in sample data, fp32 and fp16 latency timed with CUDA
events) through `benchsel run` and `benchsel results --json`. It uses only benchsel's command
line. Exit code 0 when every check passed, 1 when one failed, 2 when there is no CUDA device
(then nothing is tried).

On a bare GPU machine without network (the device lease), ``--device-lease`` first installs the
carried wheelhouse and builds mmcv: scripts/gpu_lease.py, scripts/gpu_lease.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# One short trial per family: (family, architecture id, task, variant).
TRIALS: tuple[tuple[str, str, str, str], ...] = (
    ("yolo", "rtmdet-tiny", "detection", "default"),
    ("yolo", "yolov8-n", "detection", "default"),
    ("ssd", "ssdlite-mobilenetv2", "detection", "default"),
    ("retinanet", "retinanet-r50", "detection", "default"),
    ("two-stage", "mask-rcnn-r50", "instance", "r18-light"),
    ("dino", "dino-4scale-r50", "detection", "default"),
    ("mask2former", "mask2former-r50", "instance", "default"),
    ("unet", "unet-s5-d16", "semantic", "default"),
    ("panoptic-fpn", "panoptic-fpn-r50", "panoptic", "default"),
)
FIXED_SIZE = {"ssdlite-mobilenetv2"}  # runs only at its own 320x320
SIZE = 256  # DINO-4scale needs at least 256x256


def line(ok: bool, name: str, detail: str) -> bool:
    """Print one check's line; return ``ok``."""
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)
    return ok


def check_torch() -> tuple[bool, str]:
    """Whether torch sees a CUDA device, and what it is."""
    try:
        import torch
    except ImportError as exc:
        return False, f"torch does not import ({exc})"
    build = torch.version.cuda or "none (CPU build)"
    if not torch.cuda.is_available():
        return False, (
            f"no CUDA device visible to torch {torch.__version__} (CUDA build: {build}); this "
            "script checks benchsel's GPU path and needs an NVIDIA GPU, so nothing was run"
        )
    props = torch.cuda.get_device_properties(0)
    return True, (
        f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN "
        f"{torch.backends.cudnn.version()}, {props.name} (compute capability "
        f"{props.major}.{props.minor}, {props.total_memory / 1024**3:.0f} GB)"
    )


def _run(cmd: list[str], timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _tail(text: str, lines: int = 5) -> str:
    return " / ".join(t.strip() for t in text.strip().splitlines()[-lines:] if t.strip())


def check_build_plan(python: str) -> tuple[bool, str]:
    """What scripts/install.sh would do with mmcv now: nothing, once CUDA ops run."""
    proc = _run([python, str(ROOT / "scripts" / "mmcv_build_plan.py"), "--json"], timeout=300)
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return False, f"mmcv_build_plan.py failed: {_tail(proc.stderr)}"
    facts, plan = data["facts"], data["plan"]
    warnings = "; ".join(plan["warnings"])
    if plan["error"]:
        return False, f"{plan['error']} {warnings}".strip()
    if plan["build"]:
        return False, (
            f"the install would still build mmcv ({'; '.join(plan['reasons'])}); run "
            f"`bash scripts/install.sh` first. {warnings}".strip()
        )
    if not facts["mmcv_ops_cuda"]:
        return False, f"mmcv's ops do not run on cuda:0 ({facts['mmcv_error']}). {warnings}"
    return True, (
        f"mmcv {facts['mmcv_version']} ops run on cpu and cuda:0; nvcc {facts['nvcc_version']} "
        f"for torch's CUDA {facts['torch_cuda']}; install.sh would keep it"
    )


def check_doctor(benchsel: str) -> tuple[bool, str]:
    """`benchsel doctor` passes and ran mmcv's ops on the GPU."""
    proc = _run([benchsel, "doctor"], timeout=600)
    out = proc.stdout + proc.stderr
    ops = next((t for t in out.splitlines() if "mmcv compiled ops" in t), "")
    failed = [t.strip() for t in out.splitlines() if t.startswith("FAIL")]
    if proc.returncode != 0 or failed:
        return False, " | ".join(failed) or f"exit {proc.returncode}: {_tail(out)}"
    if "cuda" not in ops:
        return False, f"doctor did not run mmcv's ops on CUDA: {ops.strip()}"
    return True, ops.split(":", 1)[1].strip()


def suite_yaml(out: Path, iterations: int, device: str = "cuda") -> dict[str, Any]:
    """The suite: every family of :data:`TRIALS` on the built-in sample data."""
    candidates = []
    for _, arch, task, variant in TRIALS:
        cand: dict[str, Any] = {"id": arch, "task": task, "variants": [variant]}
        if arch not in FIXED_SIZE:
            cand["input_size"] = [SIZE, SIZE]
        candidates.append(cand)
    return {
        "name": "gpu-check",
        "dataset": {
            "sample": {"images": 48, "size": SIZE, "seed": 0},
            "split": {"val_fraction": 0.25, "seed": 0},
        },
        "candidates": candidates,
        "training": {"iterations": iterations, "batch_size": 2, "lr_scale": "none"},
        "measurement": {
            "batch_sizes": [1],
            "precision": ["fp32", "fp16"],
            "device": device,
            "warmup_iters": 5,
            "min_iters": 20,
            "min_seconds": 0.5,
        },
        "output": str(out),
    }


def trial_lines(rows: list[dict[str, Any]]) -> list[tuple[bool, str, str]]:
    """One (ok, name, detail) per family from `benchsel results --json` rows."""
    out = []
    for family, arch, _, variant in TRIALS:
        name = f"trial {family} ({arch}{'' if variant == 'default' else ' ' + variant})"
        row = next(
            (r for r in rows if r.get("arch_id") == arch and r.get("variant") == variant), None
        )
        if row is None:
            out.append((False, name, "no result stored"))
            continue
        if row.get("status") != "ok":
            error = str(row.get("error") or "").strip().splitlines()
            out.append((False, name, f"{row.get('status')}: {error[-1] if error else '?'}"))
            continue
        lat = {
            f"{phase} {p}": row.get(f"latency_{phase}_p50_ms{'' if p == 'fp32' else '_fp16'}")
            for phase in ("e2e", "forward")
            for p in ("fp32", "fp16")
        }
        missing = [k for k, v in lat.items() if not isinstance(v, (int, float))]
        if missing:
            out.append((False, name, f"trained, but no p50 latency for {', '.join(missing)}"))
            continue
        timing = ", ".join(f"{k} {v:.2f} ms" for k, v in lat.items())
        out.append((True, name, f"p50 {timing}; trial wall {row.get('wall_s') or 0:.0f} s"))
    return out


def run_trials(
    benchsel: str, out: Path, iterations: int, trial_timeout: float
) -> list[tuple[bool, str, str]]:
    """Write the suite, run it with `benchsel run`, read `benchsel results --json`."""
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    suite = out / "gpu-check.yaml"
    suite.write_text(yaml.safe_dump(suite_yaml(out / "results", iterations), sort_keys=False))
    total = trial_timeout * (len(TRIALS) + 1)
    cmd = [benchsel, "run", str(suite), "--fresh", "--trial-timeout", str(trial_timeout)]
    try:
        proc = _run(cmd, timeout=total)
    except subprocess.TimeoutExpired:
        return [(False, "benchsel run", f"did not finish in {total:.0f} s")]
    if proc.returncode not in (0, 2):
        return [
            (False, "benchsel run", f"exit {proc.returncode}: {_tail(proc.stderr + proc.stdout)}")
        ]
    store = out / "results" / "gpu-check.sqlite"
    res = _run([benchsel, "results", str(store), "--json"], timeout=120)
    try:
        rows = json.loads(res.stdout)
    except json.JSONDecodeError:
        return [(False, "benchsel results", f"exit {res.returncode}: {_tail(res.stderr)}")]
    return trial_lines(rows)


def _benchsel_command() -> str | None:
    local = Path(sys.executable).parent / "benchsel"
    return str(local) if local.exists() else shutil.which("benchsel")


def main(argv: list[str] | None = None) -> int:
    """Run the checks in order; one line each."""
    argv = sys.argv[1:] if argv is None else argv
    if "--device-lease" in argv:  # the bare machine: wheelhouse, mmcv build, then these checks
        sys.path.insert(0, str(ROOT / "scripts"))
        import gpu_lease

        return int(gpu_lease.main([a for a in argv if a != "--device-lease"]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device-lease",
        action="store_true",
        help="on a bare GPU machine: install .whl/, build mmcv, then check (scripts/gpu_lease.py)",
    )
    parser.add_argument("--out", type=Path, help="working folder (default: a new temp folder)")
    parser.add_argument("--iterations", type=int, default=20, help="training iterations/trial")
    parser.add_argument("--trial-timeout", type=float, default=900, help="seconds per trial")
    args = parser.parse_args(argv)

    ok, detail = check_torch()
    line(ok, "torch CUDA", detail)
    if not ok:
        return 2
    ok, detail = check_build_plan(sys.executable)
    results = [line(ok, "mmcv build plan", detail)]
    benchsel = _benchsel_command()
    if benchsel is None:
        line(False, "benchsel", "the benchsel command is not installed here (make install)")
        return 1
    ok, detail = check_doctor(benchsel)
    results.append(line(ok, "benchsel doctor", detail))
    out = args.out or Path(tempfile.mkdtemp(prefix="benchsel-gpu-check-"))
    for ok, name, detail in run_trials(benchsel, out, args.iterations, args.trial_timeout):
        results.append(line(ok, name, detail))
    passed = sum(results)
    print(f"{passed}/{len(results)} checks passed; suite and logs in {out}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
