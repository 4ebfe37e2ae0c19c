"""`benchsel doctor`: check the installation and say exactly what to fix."""

from __future__ import annotations

import importlib
import shutil
from dataclasses import dataclass
from importlib import metadata

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


def check_torch() -> list[Check]:
    try:
        import torch
    except ImportError as exc:
        return [Check("torch", False, str(exc), "bash scripts/install.sh (installs torch==2.13.0)")]
    out = [Check("torch", True, f"{torch.__version__} (CUDA build: {torch.version.cuda or 'no'})")]
    if torch.cuda.is_available():
        out.append(Check("CUDA device", True, torch.cuda.get_device_name(0), required=False))
    else:
        fix = (
            (
                "install a CUDA build of torch, then rerun scripts/install.sh to rebuild mmcv "
                "with CUDA ops"
            )
            if torch.version.cuda is None
            else "check the NVIDIA driver"
        )
        out.append(
            Check("CUDA device", False, "none: benchmarks run on the CPU", fix, required=False)
        )
    return out


def check_mmcv_ops() -> Check:
    try:
        import torch
        from mmcv.ops import nms, roi_align

        boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0]])
        nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
        roi_align(torch.zeros(1, 1, 8, 8), torch.tensor([[0.0, 0.0, 0.0, 4.0, 4.0]]), (2, 2))
    except Exception as exc:
        return Check(
            "mmcv compiled ops",
            False,
            f"{type(exc).__name__}: {exc}",
            "pip uninstall -y mmcv && bash scripts/install.sh (builds mmcv with MMCV_WITH_OPS=1)",
        )
    cuda = ""
    try:
        import torch
        from mmcv.utils import ext_loader

        ext = ext_loader.load_ext("_ext", ["nms"])
        cuda = " (CUDA ops built)" if torch.cuda.is_available() and ext else ""
    except Exception:
        pass
    return Check("mmcv compiled ops", True, f"nms and roi_align run{cuda}")


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
