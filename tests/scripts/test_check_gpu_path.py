"""scripts/check_gpu_path.py: refuses clearly without CUDA; reads `benchsel results --json` rows."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_gpu_path.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_gpu_path", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cgp = _load()


def test_without_cuda_the_first_line_says_so_and_nothing_runs(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the script would run its checks")
    out = tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("FAIL torch CUDA: no CUDA device visible to torch"), proc.stdout
    assert "nothing was run" in lines[0]
    assert len(lines) == 1
    assert not out.exists()  # no suite written, no benchsel run


def test_suite_has_one_cuda_trial_per_family_with_fp32_and_fp16(tmp_path):
    suite = cgp.suite_yaml(tmp_path / "results", iterations=20)
    assert suite["measurement"]["device"] == "cuda"
    assert suite["measurement"]["precision"] == ["fp32", "fp16"]
    assert [c["id"] for c in suite["candidates"]] == [
        "rtmdet-tiny",
        "yolov8-n",
        "ssdlite-mobilenetv2",
        "retinanet-r50",
        "mask-rcnn-r50",
        "dino-4scale-r50",
        "mask2former-r50",
        "unet-s5-d16",
        "panoptic-fpn-r50",
    ]
    assert suite["candidates"][4]["variants"] == ["r18-light"]
    assert "input_size" not in suite["candidates"][2]  # SSDLite runs only at 320x320
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    benchsel = Path(sys.executable).parent / "benchsel"
    check = subprocess.run(
        [str(benchsel), "suite", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "9 trials" in check.stdout


def _row(arch: str, variant: str = "default", **metrics):
    return {"arch_id": arch, "variant": variant, "status": "ok", "wall_s": 12.0, **metrics}


def test_trial_lines_need_fp32_and_fp16_latency_and_report_failures():
    timed = {
        "latency_e2e_p50_ms": 5.0,
        "latency_e2e_p50_ms_fp16": 4.0,
        "latency_forward_p50_ms": 2.0,
        "latency_forward_p50_ms_fp16": 1.5,
    }
    rows = [
        _row("rtmdet-tiny", **timed),
        _row("ssdlite-mobilenetv2", latency_e2e_p50_ms=3.0, latency_forward_p50_ms=1.0),
        {**_row("dino-4scale-r50"), "status": "failed", "error": "Traceback\nValueError: boom"},
        _row("mask-rcnn-r50", "r18-light", **timed),
    ]
    lines = {name: (ok, detail) for ok, name, detail in cgp.trial_lines(rows)}
    assert lines["trial yolo (rtmdet-tiny)"] == (
        True,
        "p50 e2e fp32 5.00 ms, e2e fp16 4.00 ms, forward fp32 2.00 ms, forward fp16 1.50 ms; "
        "trial wall 12 s",
    )
    assert lines["trial ssd (ssdlite-mobilenetv2)"] == (
        False,
        "trained, but no p50 latency for e2e fp16, forward fp16",
    )
    assert lines["trial dino (dino-4scale-r50)"] == (False, "failed: ValueError: boom")
    assert lines["trial two-stage (mask-rcnn-r50 r18-light)"][0]
    assert lines["trial retinanet (retinanet-r50)"] == (False, "no result stored")
    assert lines["trial yolo (yolov8-n)"] == (False, "no result stored")
    assert len(lines) == 9
