"""`benchsel doctor`: check the installation and say exactly what to fix."""

from __future__ import annotations

import contextlib
import importlib
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

REQUIRED_VERSIONS = {"mmcv": "2.1.0", "mmdet": "3.3.0", "mmsegmentation": "1.2.2"}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def nvidia_smi_gpus() -> list[str]:
    """Names of the NVIDIA GPUs the driver lists (empty without nvidia-smi)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def check_torch() -> list[Check]:
    try:
        import torch
    except ImportError as exc:
        return [Check("torch", False, str(exc), "bash scripts/install.sh (installs torch==2.13.0)")]
    out = [Check("torch", True, f"{torch.__version__} (CUDA build: {torch.version.cuda or 'no'})")]
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        detail = f"{props.name} (compute capability {props.major}.{props.minor})"
        out.append(Check("CUDA device", True, detail, required=False))
        return out
    gpus = nvidia_smi_gpus()
    if torch.version.cuda is None:
        detail = "none: benchmarks run on the CPU"
        fix = (
            "install a CUDA build of torch, then rerun scripts/install.sh to rebuild mmcv "
            "with CUDA ops"
        )
        if gpus:
            version = torch.__version__.split("+")[0]
            detail = f"{', '.join(gpus)} present, but torch is a CPU build: trials run on the CPU"
            fix = (
                f"pip uninstall -y torch && pip install torch=={version} --index-url "
                "https://download.pytorch.org/whl/cuXYZ (a cuXYZ that pytorch.org lists for "
                "this torch and the driver supports), then rerun scripts/install.sh"
            )
    else:
        detail = "none: benchmarks run on the CPU"
        fix = "check the NVIDIA driver"
        if gpus:
            detail = f"{', '.join(gpus)} present, but torch (CUDA {torch.version.cuda}) sees none"
            fix = (
                "the NVIDIA driver may be older than torch's CUDA (nvidia-smi shows the CUDA "
                "version it supports), or CUDA_VISIBLE_DEVICES hides the GPUs"
            )
    out.append(Check("CUDA device", False, detail, fix, required=False))
    return out


# --- mmcv's compiled ops, run on every device benchsel may use -------------------------------

# The ops of mmcv that the catalog's models call, and where benchsel's models call the compiled
# kernel (on CPU, mmdet uses a PyTorch focal loss and mmcv a PyTorch deformable attention).
OPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "nms": ("every detector (batched_nms)", ("cpu", "cuda")),
    "roi_align": ("Mask R-CNN, Panoptic FPN (RoIAlign)", ("cpu", "cuda")),
    "sigmoid_focal_loss": ("RetinaNet and DINO training (FocalLoss)", ("cuda",)),
    "ms_deform_attn": ("DINO, Mask2Former (MultiScaleDeformableAttention)", ("cpu", "cuda")),
}
PRECISIONS = {"cpu": ("fp32",), "cuda": ("fp32", "fp16")}
# Each op runs forward, and backward where training differentiates through it. On CPU,
# MultiScaleDeformableAttention takes mmcv's PyTorch path; on CUDA its compiled kernel.

OpRunner = Callable[[str, str, str], None]
"""Runs op ``name`` on ``device`` in ``precision`` (forward and backward); raises on failure."""


def cuda_available() -> bool:
    """Whether torch sees a CUDA device (the seam tests replace)."""
    import torch

    return bool(torch.cuda.is_available())


def op_devices() -> list[str]:
    """The devices a user's trials may run on: the CPU, and the first GPU when there is one."""
    return ["cpu", "cuda:0"] if cuda_available() else ["cpu"]


def run_op(name: str, device: str, precision: str) -> None:
    """Run one of :data:`OPS` as benchsel's models call it; raise if it fails."""
    import torch

    half = precision == "fp16"
    dtype = torch.float16 if half else torch.float32
    autocast = (
        torch.autocast(device_type="cuda", dtype=torch.float16)
        if half
        else contextlib.nullcontext()
    )
    with autocast:
        loss = _OP_CALLS[name](torch, device, dtype)
        if loss is not None:
            loss.float().sum().backward()
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def _nms(torch: Any, device: str, dtype: Any) -> None:
    from mmcv.ops import batched_nms

    # Boxes stay fp32 under autocast (decoded against fp32 priors); scores follow the head.
    boxes = torch.tensor(
        [[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [20.0, 20.0, 30.0, 30.0]], device=device
    )
    scores = torch.tensor([0.9, 0.8, 0.7], device=device, dtype=dtype)
    _, keep = batched_nms(
        boxes, scores, torch.tensor([0, 0, 1], device=device), {"type": "nms", "iou_threshold": 0.5}
    )
    if sorted(keep.tolist()) != [0, 2]:
        raise RuntimeError(f"nms kept {keep.tolist()}, expected [0, 2]")


def _roi_align(torch: Any, device: str, dtype: Any) -> Any:
    from mmcv.ops import RoIAlign

    feats = torch.rand(1, 4, 16, 16, device=device, dtype=dtype, requires_grad=True)
    rois = torch.tensor([[0.0, 1.0, 1.0, 9.0, 9.0]], device=device, dtype=dtype)
    out = RoIAlign((7, 7), spatial_scale=1.0, sampling_ratio=0, aligned=True)(feats, rois)
    if tuple(out.shape) != (1, 4, 7, 7):
        raise RuntimeError(f"roi_align gave shape {tuple(out.shape)}, expected (1, 4, 7, 7)")
    return out


def _sigmoid_focal_loss(torch: Any, device: str, dtype: Any) -> Any:
    from mmcv.ops import sigmoid_focal_loss

    logits = torch.randn(8, 3, device=device, dtype=dtype, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3], device=device)  # 3 = background
    return sigmoid_focal_loss(logits, labels, 2.0, 0.25, None, "mean")


def _ms_deform_attn(torch: Any, device: str, dtype: Any) -> Any:
    from mmcv.ops import MultiScaleDeformableAttention

    attn = MultiScaleDeformableAttention(
        embed_dims=32, num_heads=4, num_levels=2, num_points=2, batch_first=True
    ).to(device)
    shapes = torch.tensor([[8, 8], [4, 4]], device=device)
    starts = torch.tensor([0, 64], device=device)
    value = torch.randn(1, 80, 32, device=device, requires_grad=True)
    query = torch.randn(1, 10, 32, device=device)
    ref = torch.rand(1, 10, 2, 2, device=device)
    return attn(
        query, value=value, reference_points=ref, spatial_shapes=shapes, level_start_index=starts
    )


_OP_CALLS: dict[str, Callable[[Any, str, Any], Any]] = {
    "nms": _nms,
    "roi_align": _roi_align,
    "sigmoid_focal_loss": _sigmoid_focal_loss,
    "ms_deform_attn": _ms_deform_attn,
}

REBUILD_FIX = (
    "mmcv lacks these ops for this device (built without CUDA ops, or for another GPU "
    "architecture). In the benchsel checkout run `bash scripts/install.sh`: it uninstalls mmcv "
    "and rebuilds it with CUDA ops without pip's cache when nvcc matches torch's CUDA, and says "
    "why not otherwise (`python scripts/mmcv_build_plan.py` shows the plan). By hand: pip "
    "uninstall -y mmcv && MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST={arch} pip install "
    "--no-cache-dir --no-build-isolation mmcv==2.1.0"
)


def _gpu_arch() -> str:
    try:
        import torch

        major, minor = torch.cuda.get_device_capability(0)
        return f"{major}.{minor}"
    except Exception:
        return "<your GPU's compute capability, e.g. 8.6>"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def check_mmcv_ops(devices: Sequence[str] | None = None, runner: OpRunner | None = None) -> Check:
    """Run every op benchsel uses on every device it may run on; ok only if all run.

    ``devices`` defaults to :func:`op_devices`, ``runner`` to :func:`run_op` (both seams).
    """
    devices = op_devices() if devices is None else list(devices)
    runner = run_op if runner is None else runner
    passed: list[str] = []
    failed: list[str] = []
    for device in devices:
        kind = "cuda" if device.startswith("cuda") else "cpu"
        ran: list[str] = []
        broken: list[str] = []
        for name, (_, where) in OPS.items():
            if kind not in where:
                continue
            errors: list[str] = []
            for precision in PRECISIONS[kind]:
                try:
                    runner(name, device, precision)
                except Exception as exc:
                    errors.append(f"{precision}: {_first_line(exc)}")
            if errors:
                broken.append(f"{name} ({errors[0]})")
            else:
                ran.append(name)
        precisions = " and ".join(PRECISIONS[kind]).replace("fp16", "fp16 autocast")
        if ran:
            passed.append(f"{device}: {', '.join(ran)} run ({precisions})")
        if broken:
            failed.append(f"{device}: " + "; ".join(broken))
    if failed:
        on_cpu = any(f.startswith("cpu") for f in failed)
        fix = (
            "pip uninstall -y mmcv && bash scripts/install.sh (builds mmcv with MMCV_WITH_OPS=1)"
            if on_cpu
            else REBUILD_FIX.format(arch=_gpu_arch())
        )
        return Check("mmcv compiled ops", False, " | ".join(failed + passed), fix)
    if not any(d.startswith("cuda") for d in devices):
        passed.append("no CUDA device: CUDA ops not checked")
    return Check("mmcv compiled ops", True, "; ".join(passed))


def check_versions() -> list[Check]:
    out = []
    for dist, wanted in REQUIRED_VERSIONS.items():
        have = _version(dist)
        ok = have == wanted
        out.append(
            Check(
                dist,
                ok,
                have or "not installed",
                ""
                if ok
                else f"pip install {dist}=={wanted}"
                + (" (build: see scripts/install.sh)" if dist == "mmcv" else ""),
            )
        )
    for module, dist in (("mmdet", "mmdet"), ("mmseg", "mmsegmentation")):
        try:
            importlib.import_module(module)
        except Exception as exc:
            out.append(
                Check(
                    f"import {module}",
                    False,
                    f"{type(exc).__name__}: {exc}",
                    f"pip install {dist}=={REQUIRED_VERSIONS[dist]} ftfy regex",
                )
            )
    return out


def check_modules() -> list[Check]:
    out = []
    for module, dist, required, fix in (
        ("fvcore", "fvcore", True, "pip install fvcore"),
        ("pycocotools", "pycocotools", True, "pip install pycocotools"),
        ("faster_coco_eval", "faster-coco-eval", True, "pip install faster-coco-eval"),
        ("panopticapi", "panopticapi-lite", True, "pip install --no-deps panopticapi-lite"),
        ("ray", "ray", False, "pip install 'benchsel[ray]' (for --executor ray)"),
        ("playwright", "playwright", False, "pip install playwright (report browser test)"),
    ):
        try:
            importlib.import_module(module)
            out.append(Check(module, True, _version(dist) or "installed", required=required))
        except ImportError as exc:
            out.append(Check(module, False, str(exc), fix, required=required))
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    out.append(
        Check(
            "chromium",
            browser is not None,
            browser or "not found",
            "" if browser else "sudo apt-get install -y chromium (report browser test)",
            required=False,
        )
    )
    return out


def run_checks() -> list[Check]:
    return [*check_torch(), check_mmcv_ops(), *check_versions(), *check_modules()]
