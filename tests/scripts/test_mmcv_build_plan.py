"""scripts/mmcv_build_plan.py: the mmcv install decision on faked facts, and on this machine."""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "mmcv_build_plan.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mmcv_build_plan", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


mbp = _load()

# This project's CI machine: CPU torch, no nvcc, no GPU, 2 cores.
CPU = mbp.Facts(
    python="/venv/bin/python",
    torch_version="2.13.0+cpu",
    mem_gb=23.5,
    nproc=2,
)
# A workstation: CUDA 12.8 torch, nvcc 12.8, one RTX 4090 (8.9), 16 cores, 64 GB.
GPU = mbp.Facts(
    python="/venv/bin/python",
    torch_version="2.13.0+cu128",
    torch_cuda="12.8",
    cuda_available=True,
    gpu_capabilities=((8, 9),),
    nvcc_path="/usr/local/cuda-12.8/bin/nvcc",
    cuda_home="/usr/local/cuda-12.8",
    nvcc_version="12.8",
    mem_gb=64.0,
    nproc=16,
)
INSTALLED_OK = {"mmcv_version": "2.1.0", "mmcv_ops_cpu": True}
CPU_ONLY_ERROR = "RuntimeError: nms_impl: implementation for device cuda:0 not found."


def _shell(plan) -> dict[str, str]:
    return dict(line.split("=", 1) for line in shlex.split(plan.shell(), posix=True))


def test_cpu_machine_fresh_builds_cpu_ops_with_the_cache_as_today():
    p = mbp.plan(CPU)
    assert p.build and not p.force_cuda
    assert not p.uninstall and not p.no_cache and not p.hide_gpus  # pip's cached wheel is fine
    assert p.arch_list is None and p.cuda_home is None
    assert p.max_jobs == 2  # = nproc, as `MAX_JOBS=$(nproc)` was
    assert not p.warnings and p.error is None
    assert any("CPU build" in r for r in p.reasons)
    assert _shell(p) == {
        "MMCV_PLAN_BUILD": "1",
        "MMCV_PLAN_FORCE_CUDA": "0",
        "MMCV_PLAN_UNINSTALL": "0",
        "MMCV_PLAN_NO_CACHE": "0",
        "MMCV_PLAN_HIDE_GPUS": "0",
        "MMCV_PLAN_TORCH_CUDA_ARCH_LIST": "",
        "MMCV_PLAN_CUDA_HOME": "",
        "MMCV_PLAN_MAX_JOBS": "2",
    }


def test_cpu_machine_with_working_mmcv_builds_nothing():
    p = mbp.plan(replace(CPU, **INSTALLED_OK))
    assert not p.build and not p.uninstall and not p.warnings
    assert "its ops run on cpu" in p.reasons[-1]
    assert p.summary() == "keep the installed mmcv 2.1.0"


def test_cpu_machine_with_nvcc_but_cpu_torch_still_builds_cpu_ops():
    # This machine has nvcc 13.0 and a CPU torch: CUDA ops are impossible, no warning needed.
    p = mbp.plan(replace(CPU, nvcc_path="/usr/local/cuda/bin/nvcc", nvcc_version="13.0"))
    assert p.build and not p.force_cuda and not p.no_cache and not p.warnings


@pytest.mark.parametrize(("version", "why"), [("2.2.0", "2.2.0 is installed"), (None, "not")])
def test_wrong_or_missing_mmcv_is_built(version, why):
    p = mbp.plan(replace(CPU, mmcv_version=version))
    assert p.build and any(why in r for r in p.reasons)


def test_installed_mmcv_whose_ops_fail_is_rebuilt_without_the_cache():
    error = "ImportError: _ext.so: undefined symbol: _ZN3c10"
    p = mbp.plan(replace(CPU, mmcv_version="2.1.0", mmcv_ops_cpu=False, mmcv_error=error))
    assert p.build and p.uninstall and p.no_cache and not p.force_cuda
    assert any(error in r for r in p.reasons)


def test_gpu_machine_builds_cuda_ops_for_the_visible_gpu():
    p = mbp.plan(GPU)
    assert p.build and p.force_cuda and not p.hide_gpus
    assert p.no_cache  # pip's cache may hold a CPU-only wheel
    assert p.arch_list == "8.9"
    assert p.cuda_home == "/usr/local/cuda-12.8"
    assert p.error is None and not p.warnings
    shell = _shell(p)
    assert shell["MMCV_PLAN_FORCE_CUDA"] == "1"
    assert shell["MMCV_PLAN_TORCH_CUDA_ARCH_LIST"] == "8.9"
    assert shell["MMCV_PLAN_CUDA_HOME"] == "/usr/local/cuda-12.8"


def test_arch_list_covers_every_visible_gpu_once():
    p = mbp.plan(replace(GPU, gpu_capabilities=((8, 6), (8, 0), (8, 6))))
    assert p.arch_list == "8.0;8.6"


def test_gpu_newer_than_nvcc_gets_ptx_of_the_newest_arch_and_a_warning():
    p = mbp.plan(replace(GPU, torch_cuda="12.4", nvcc_version="12.4", gpu_capabilities=((12, 0),)))
    assert p.force_cuda and p.arch_list == "9.0+PTX"
    assert any("newer than nvcc 12.4" in w for w in p.warnings)


def test_user_arch_list_and_max_jobs_are_kept():
    p = mbp.plan(replace(GPU, env_arch_list="8.0 8.6", env_max_jobs="3"))
    assert p.arch_list == "8.0 8.6" and p.max_jobs == 3
    assert not p.warnings


def test_user_max_jobs_beyond_memory_is_kept_with_a_warning():
    p = mbp.plan(replace(GPU, mem_gb=8.0, env_max_jobs="16"))
    assert p.max_jobs == 16
    assert any("may run out of memory" in w for w in p.warnings)


def test_nvcc_missing_on_gpu_machine_builds_cpu_ops_with_gpus_hidden_and_says_how_to_fix():
    p = mbp.plan(replace(GPU, nvcc_path=None, cuda_home=None, nvcc_version=None))
    assert p.build and not p.force_cuda
    assert p.hide_gpus  # else mmcv's setup.py compiles CUDA sources: "CUDA_HOME ... not set"
    assert p.arch_list is None and p.cuda_home is None
    assert p.error is None
    (warning,) = p.warnings
    assert "no nvcc" in warning and "implementation for device cuda:0 not found" in warning
    assert "CUDA toolkit 12.8" in warning and "bash scripts/install.sh" in warning
    assert _shell(p)["MMCV_PLAN_HIDE_GPUS"] == "1"
    assert p.max_jobs == 16  # C++ jobs at 1.5 GB each: min(16 cores, 64 GB / 1.5)


def test_nvcc_major_mismatch_refuses_cuda_build_and_names_both_versions():
    p = mbp.plan(replace(GPU, nvcc_version="11.8", nvcc_path="/usr/local/cuda-11.8/bin/nvcc"))
    assert p.build and not p.force_cuda and p.hide_gpus
    (warning,) = p.warnings
    assert "CUDA 11.8" in warning and "CUDA 12.8" in warning
    assert "mismatches" in warning
    assert "download.pytorch.org/whl/cu118" in warning  # a torch for the nvcc there is


def test_nvcc_minor_mismatch_builds_cuda_ops_and_says_so():
    p = mbp.plan(replace(GPU, nvcc_version="12.4"))
    assert p.force_cuda and not p.warnings
    assert any("differ in minor version" in r for r in p.reasons)


def test_container_build_without_visible_gpu_gets_a_stated_arch_list():
    facts = replace(GPU, cuda_available=False, gpu_capabilities=())
    p = mbp.plan(facts)
    assert p.build and p.force_cuda and not p.hide_gpus
    assert p.arch_list == "7.0;7.5;8.0;8.6;8.9;9.0;10.0;12.0+PTX"
    assert any("no GPU visible" in r and "IndexError" in r for r in p.reasons)
    # nvcc 12.4 cannot target Blackwell; nvcc 13 no longer targets Volta.
    assert mbp.plan(replace(facts, nvcc_version="12.4", torch_cuda="12.4")).arch_list == (
        "7.0;7.5;8.0;8.6;8.9;9.0+PTX"
    )
    assert mbp.plan(replace(facts, nvcc_version="13.0", torch_cuda="13.0")).arch_list == (
        "7.5;8.0;8.6;8.9;9.0;10.0;12.0+PTX"
    )


def test_container_build_rebuilds_an_installed_mmcv_without_cuda_in_its_extension():
    facts = replace(GPU, cuda_available=False, gpu_capabilities=(), **INSTALLED_OK)
    p = mbp.plan(replace(facts, mmcv_ext_cuda=False))
    assert p.build and p.uninstall and p.no_cache and p.force_cuda
    assert not mbp.plan(replace(facts, mmcv_ext_cuda=True)).build


def test_installed_mmcv_with_cpu_only_ops_on_cuda_machine_is_rebuilt_without_cache():
    facts = replace(GPU, **INSTALLED_OK, mmcv_ops_cuda=False, mmcv_error=CPU_ONLY_ERROR)
    p = mbp.plan(facts)
    assert p.build and p.uninstall and p.no_cache and p.force_cuda
    assert p.arch_list == "8.9"
    assert any("implementation for device cuda:0 not found" in r for r in p.reasons)
    assert p.summary().startswith("uninstall mmcv, then build mmcv 2.1.0 with CUDA and CPU ops")
    assert "--no-cache-dir" in p.summary()
    # Once its ops run on the GPU, nothing is left to do.
    assert not mbp.plan(replace(facts, mmcv_ops_cuda=True, mmcv_error=None)).build


def test_cpu_only_mmcv_on_gpu_machine_without_nvcc_is_not_rebuilt_for_nothing():
    facts = replace(GPU, nvcc_path=None, nvcc_version=None, cuda_home=None, **INSTALLED_OK)
    p = mbp.plan(replace(facts, mmcv_ops_cuda=False, mmcv_error=CPU_ONLY_ERROR))
    assert not p.build  # a rebuild would give the same CPU-only ops
    assert any("CUDA trials of detectors will fail" in w for w in p.warnings)


def test_many_cores_little_memory_caps_nvcc_jobs_by_memory():
    p = mbp.plan(replace(GPU, nproc=64, mem_gb=16.0))
    assert p.force_cuda and p.max_jobs == 5  # 16 GB / 3 GB per nvcc job
    assert any("MAX_JOBS=5" in r and "limited by memory" in r and "3 GB" in r for r in p.reasons)
    assert mbp.plan(replace(GPU, nproc=64, mem_gb=2.0)).max_jobs == 1


def test_cpu_torch_on_gpu_machine_warns_with_the_command_that_installs_cuda_torch():
    facts = replace(
        CPU,
        smi_gpus=("NVIDIA A100-SXM4-40GB",),
        smi_capabilities=((8, 0),),
        driver_cuda="12.8",
    )
    p = mbp.plan(facts)
    assert p.build and not p.force_cuda and not p.hide_gpus  # torch sees no GPU: nothing to hide
    (warning,) = p.warnings
    assert "NVIDIA A100" in warning and "CPU build" in warning
    assert (
        "/venv/bin/python -m pip uninstall -y torch && /venv/bin/python -m pip install "
        "'torch==2.13.0' --index-url https://download.pytorch.org/whl/cu128"
    ) in warning
    assert "rerun `bash scripts/install.sh`" in warning


def test_cuda_torch_that_cannot_see_the_driver_gpu_is_named():
    facts = replace(
        GPU,
        cuda_available=False,
        gpu_capabilities=(),
        smi_gpus=("Tesla T4",),
        smi_capabilities=((7, 5),),
        driver_cuda="12.2",
    )
    p = mbp.plan(facts)
    assert any("cannot use it" in w and "12.2" in w for w in p.warnings)
    assert p.force_cuda and p.arch_list == "7.5"  # built for the GPU nvidia-smi lists


def test_user_force_cuda_is_obeyed_or_refused_with_the_reason():
    off = mbp.plan(replace(GPU, env_force_cuda="0"))
    assert off.build and not off.force_cuda and off.hide_gpus
    assert any("FORCE_CUDA=0" in w for w in off.warnings)
    impossible = mbp.plan(replace(CPU, env_force_cuda="1"))
    assert impossible.error is not None and "CPU build" in impossible.error
    assert mbp.plan(replace(GPU, env_force_cuda="1")).force_cuda


def test_missing_torch_is_an_error():
    assert mbp.plan(mbp.Facts()).error is not None


def test_find_cuda_follows_torch_search_order_and_finds_the_toolkit_behind_a_wrapper(tmp_path):
    toolkit = tmp_path / "cuda-12.8"
    (toolkit / "bin").mkdir(parents=True)
    (toolkit / "include").mkdir()
    (toolkit / "include" / "cuda_runtime.h").write_text("")
    nvcc = toolkit / "bin" / "nvcc"
    nvcc.write_text(
        f'#!/bin/sh\nif [ "$1" = --dryrun ]; then echo "#$ TOP={toolkit}/bin/.." >&2; fi\n'
    )
    nvcc.chmod(0o755)
    wrapper_dir = tmp_path / "wrapped"
    wrapper_dir.mkdir()
    wrapper = wrapper_dir / "nvcc"
    wrapper.write_text(f'#!/bin/sh\nexec {nvcc} "$@"\n')
    wrapper.chmod(0o755)

    assert mbp.find_cuda({"CUDA_HOME": str(toolkit), "PATH": ""}) == (str(nvcc), str(toolkit), None)
    missing = mbp.find_cuda({"CUDA_HOME": str(tmp_path), "PATH": str(wrapper_dir)})
    assert missing[0] is None and "has no bin/nvcc" in (missing[2] or "")
    # A wrapper script on PATH outside the toolkit (as on this machine): nvcc's dry run names it.
    assert mbp.find_cuda({"PATH": str(wrapper_dir)}) == (str(nvcc), str(toolkit), None)


def test_on_this_machine_the_real_venv_needs_no_build():
    """The installed environment (CPU torch, mmcv built by `make install`): nothing to build."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    values = dict(line.split("=", 1) for line in shlex.split(proc.stdout))
    assert values["MMCV_PLAN_BUILD"] == "0", proc.stderr
    assert "keep the installed mmcv 2.1.0" in proc.stderr
    verify = subprocess.run(
        [sys.executable, str(SCRIPT), "--verify"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert verify.returncode == 0 and "verified" in verify.stderr, verify.stderr
