"""`benchsel doctor` runs mmcv's ops on the device trials will use before it says ok."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from benchsel import doctor
from benchsel.cli import app

CPU_ONLY = "nms_impl: implementation for device cuda:0 not found."


class FakeOps:
    """Ops that run on the CPU; on CUDA they fail as a CPU-only mmcv build does (or run)."""

    def __init__(self, cuda_ops: bool) -> None:
        self.cuda_ops = cuda_ops
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, name: str, device: str, precision: str) -> None:
        self.calls.append((name, device, precision))
        if device.startswith("cuda") and not self.cuda_ops:
            raise RuntimeError(CPU_ONLY.replace("nms", name))


@pytest.fixture
def fake_cuda(monkeypatch):
    """CUDA "available"; returns a setter for whether mmcv's ops run there."""

    def use(cuda_ops: bool) -> FakeOps:
        ops = FakeOps(cuda_ops)
        monkeypatch.setattr(doctor, "cuda_available", lambda: True)
        monkeypatch.setattr(doctor, "run_op", ops)
        monkeypatch.setattr(doctor, "_gpu_arch", lambda: "8.6")
        return ops

    return use


def test_cuda_available_but_ops_cpu_only_is_a_failure_with_the_rebuild(fake_cuda):
    ops = fake_cuda(cuda_ops=False)
    check = doctor.check_mmcv_ops()
    assert not check.ok and check.required
    assert "cuda:0: nms (fp32: RuntimeError: nms_impl: implementation for device cuda:0" in (
        check.detail
    )
    for name in ("roi_align", "sigmoid_focal_loss", "ms_deform_attn"):
        assert f"{name} (fp32: RuntimeError: {name}_impl" in check.detail
    assert "cpu: nms, roi_align, ms_deform_attn run" in check.detail
    assert "bash scripts/install.sh" in check.fix and "--no-cache-dir" in check.fix
    assert "FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=8.6" in check.fix
    assert {d for _, d, _ in ops.calls} == {"cpu", "cuda:0"}


def test_cuda_ops_that_run_are_ok_in_fp32_and_fp16(fake_cuda):
    ops = fake_cuda(cuda_ops=True)
    check = doctor.check_mmcv_ops()
    assert check.ok, check.detail
    assert (
        "cuda:0: nms, roi_align, sigmoid_focal_loss, ms_deform_attn run (fp32 and fp16 autocast)"
        in check.detail
    )
    cuda_calls = {(n, p) for n, d, p in ops.calls if d == "cuda:0"}
    assert cuda_calls == {(n, p) for n in doctor.OPS for p in ("fp32", "fp16")}
    # The compiled focal loss is a CUDA-only op: mmdet uses a PyTorch one on CPU.
    assert ("sigmoid_focal_loss", "cpu", "fp32") not in ops.calls


def test_an_fp16_only_failure_is_a_failure(fake_cuda):
    fake_cuda(cuda_ops=True)

    def runner(name: str, device: str, precision: str) -> None:
        if name == "ms_deform_attn" and precision == "fp16":
            raise RuntimeError("no kernel image is available for execution on the device")

    check = doctor.check_mmcv_ops(["cpu", "cuda:0"], runner)
    assert not check.ok
    assert "cuda:0: ms_deform_attn (fp16: RuntimeError: no kernel image" in check.detail


def test_cli_doctor_fails_when_cuda_ops_are_missing_and_passes_when_they_run(fake_cuda):
    runner = CliRunner()
    fake_cuda(cuda_ops=False)
    broken = runner.invoke(app, ["doctor"])
    assert broken.exit_code == 1, broken.output
    assert "FAIL mmcv compiled ops" in broken.output
    assert "fix: mmcv lacks these ops for this device" in broken.output
    fake_cuda(cuda_ops=True)
    fixed = runner.invoke(app, ["doctor"])
    assert "ok   mmcv compiled ops: cpu: nms" in fixed.output, fixed.output
    assert "cuda:0: nms, roi_align, sigmoid_focal_loss, ms_deform_attn run" in fixed.output


def test_cpu_machine_runs_the_real_ops_on_cpu():
    """This machine (no GPU): the real mmcv ops run on CPU tensors, forward and backward."""
    check = doctor.check_mmcv_ops()
    assert check.ok, check.detail
    assert check.detail == (
        "cpu: nms, roi_align, ms_deform_attn run (fp32); no CUDA device: CUDA ops not checked"
    )


def test_real_op_runner_raises_for_an_op_that_fails(monkeypatch):
    import mmcv.ops

    def broken(*args, **kwargs):
        raise RuntimeError("roi_align_forward_impl: implementation for device cpu not found.")

    monkeypatch.setattr(mmcv.ops, "RoIAlign", broken)
    check = doctor.check_mmcv_ops(["cpu"])
    assert not check.ok
    assert "roi_align (fp32: RuntimeError: roi_align_forward_impl" in check.detail
    assert "pip uninstall -y mmcv && bash scripts/install.sh" in check.fix


def test_cpu_torch_on_a_gpu_machine_says_so(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(doctor, "nvidia_smi_gpus", lambda: ["NVIDIA L4"])
    (_, device) = doctor.check_torch()
    assert not device.ok and "NVIDIA L4 present, but torch is a CPU build" in device.detail
    assert "download.pytorch.org/whl/cu" in device.fix
