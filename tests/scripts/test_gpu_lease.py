"""scripts/gpu_wheelhouse.py and scripts/gpu_lease.py, checked on CPU: the wheelhouse's pins
and closure, the plan for the H200 lease, the mmcv patches, the verdicts, the dry run's report."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _load(name: str) -> ModuleType:
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


wh = _load("gpu_wheelhouse")
lease = _load("gpu_lease")
MANIFEST = wh.WHEELHOUSE / wh.MANIFEST
needs_wheelhouse = pytest.mark.skipif(
    not MANIFEST.exists(), reason="no .whl/: run bash scripts/gpu_wheelhouse.sh"
)


# --- the wheelhouse ------------------------------------------------------------------------


def test_lock_holds_every_root_the_gpu_machine_lacks_at_install_sh_pins():
    lock = wh.read_lock()
    roots = wh.root_requirements()
    names = {canonicalize_name(r.name) for r in roots}
    # install.sh's own pins are roots, joined with pyproject's (mmengine's bound, panopticapi)
    assert {"mmcv", "mmengine", "mmdet", "mmsegmentation", "mmyolo", "panopticapi-lite"} <= names
    assert "torch" in names and "ray" not in names  # ray: an extra the check leaves out
    for req in roots:
        name = canonicalize_name(req.name)
        if name in wh.GPU_HAS and name not in wh.CARRY_ANYWAY:
            continue
        assert name in lock, f"{name} missing from scripts/gpu_wheelhouse.txt"
        assert req.specifier.contains(lock[name], prereleases=True), (name, lock[name])
    assert lock["mmcv"] == "2.1.0" and lock["mmdet"] == "3.3.0"
    assert lock["panopticapi-lite"] == "0.2.0"


def test_lock_is_pinned_to_this_environment():
    """The wheelhouse carries what install.sh installed here (rerun gpu_wheelhouse.sh)."""
    lock = wh.read_lock()
    differ = []
    for name, version in lock.items():
        try:
            here = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        if here != version:
            differ.append(f"{name}: lock {version}, environment {here}")
    assert not differ, "run bash scripts/gpu_wheelhouse.sh: " + "; ".join(differ)


def test_install_sh_pins_are_read():
    pins = wh.install_sh_pins(SCRIPTS / "install.sh")
    assert pins["panopticapi-lite"] == "==0.2.0"
    assert pins["mmcv"] == "==2.1.0"
    assert Requirement(f"mmengine{pins['mmengine']}").specifier.contains("0.10.7")


def test_closure_check_finds_what_is_missing_or_wrong():
    entries = {
        "mmdet": wh.Entry("mmdet", "3.3.0", requires=["terminaltables", "numpy<2", "tqdm"]),
        "tqdm-ish": wh.Entry("tqdm-ish", "1.0"),
    }
    problems = wh.check_closure(entries)
    assert any("terminaltables" in p and "not in the wheelhouse" in p for p in problems)
    assert any("numpy<2" in p and "2.5.2" in p for p in problems)  # the GPU's numpy is 2.5.2
    assert not any("tqdm" in p and "numpy" not in p for p in problems)  # the GPU has tqdm


@needs_wheelhouse
def test_wheelhouse_is_complete_small_and_installable_offline(tmp_path):
    entries = wh.load_manifest()
    assert wh.check_closure(entries) == []
    files = [wh.WHEELHOUSE / e.file for e in entries.values()]
    assert all(f.exists() for f in files)
    assert sum(f.stat().st_size for f in files) < wh.LIMIT_MIB * 2**20
    assert set(wh.read_lock()) == set(entries)
    wheels = [e for e in entries.values() if e.file.endswith(".whl")]
    assert len({e.name for e in wheels}) == len(wheels)  # one version of each
    platforms = [a for p in wh.PLATFORMS for a in ("--platform", p)]
    pins = [f"{e.name}=={e.version}" for e in wheels]
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "-q", "--no-index", "--no-deps"]
    cmd += ["--find-links", str(wh.WHEELHOUSE), "--target", str(tmp_path / "t")]
    cmd += ["--python-version", "3.12", "--implementation", "cp", "--only-binary=:all:"]
    proc = subprocess.run(
        [*cmd, *platforms, *pins], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


# --- the plan ------------------------------------------------------------------------------


def test_plan_for_the_h200_builds_for_sm90_with_16_jobs_in_one_call_then_checks():
    plan = lease.lease_plan(lease.H200, {"cu": 58, "cpp": 78}, mmcv_ready=False)
    s = plan["settings"]
    assert s["cuda_ops"] and s["TORCH_CUDA_ARCH_LIST"] == "9.0" and s["MAX_JOBS"] == 16
    assert s["cxx_std"] == "c++17" and s["error"] is None
    # (58 * 45 + 78 * 15) / 16 = 236 s of work, under the 240 s of filtered_lrelu.cu, + 30 link
    assert plan["build_estimate_s"] == 270 and plan["fits_one_call"]
    first, second = plan["calls"]
    assert first[:2] == ["machine", "wheelhouse"] and first[2].startswith("build mmcv 2.1.0")
    assert "TORCH_CUDA_ARCH_LIST=9.0" in first[2] and "MAX_JOBS=16" in first[2]
    assert "58 .cu + 78 .cpp" in first[2]
    assert second == ["machine", "wheelhouse", *lease.check_step_names()]
    assert len([n for n in second if n.startswith("trial ")]) == 9
    ready = lease.lease_plan(lease.H200, {"cu": 58, "cpp": 78}, mmcv_ready=True)
    assert len(ready["calls"]) == 1


def test_arch_list_jobs_and_std_follow_the_machine():
    two = lease.dataclasses.replace(lease.H200, gpu_capabilities=((8, 6), (9, 0)), nproc=64)
    s = lease.build_settings(two)
    assert s["TORCH_CUDA_ARCH_LIST"] == "8.6;9.0"
    assert s["MAX_JOBS"] == 42  # 128 GB / 3 GB per nvcc job
    blackwell = lease.dataclasses.replace(lease.H200, gpu_capabilities=((12, 0),))
    assert lease.build_settings(blackwell)["TORCH_CUDA_ARCH_LIST"] == "12.0"
    no_nvcc = lease.dataclasses.replace(lease.H200, nvcc_path=None, nvcc_version=None)
    assert not lease.build_settings(no_nvcc)["cuda_ops"]
    assert lease.cxx_std("2.11.0+cu130") == "c++17"
    assert lease.cxx_std("2.13.0+cpu") == "c++20"


def test_mmcv_patches_apply_once(tmp_path):
    src = tmp_path / "mmcv-2.1.0"
    (src / "mmcv/ops/csrc/common").mkdir(parents=True)
    (src / "setup.py").write_text(
        "from pkg_resources import DistributionNotFound, get_distribution, parse_version\n"
        "args = ['-std=c++17']\n"
    )
    header = src / "mmcv/ops/csrc/common/pytorch_cuda_helper.hpp"
    header.write_text("#include <THC/THCAtomics.cuh>\n")
    done = lease.patch_mmcv(src, "c++20")
    assert len(done) == 3
    text = (src / "setup.py").read_text()
    assert "pkg_resources" not in text and "-std=c++20" in text
    assert header.read_text() == "#include <ATen/cuda/Atomic.cuh>\n"
    assert lease.patch_mmcv(src, "c++20") == []


@needs_wheelhouse
def test_the_real_mmcv_source_patches_and_counts(tmp_path):
    sdist = wh.WHEELHOUSE / lease.SDIST
    assert lease.count_sources(sdist) == {"cu": 58, "cpp": 78}
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path, filter="data")
    src = tmp_path / "mmcv-2.1.0"
    done = lease.patch_mmcv(src, "c++17")
    assert any("pkg_resources" in d for d in done)
    assert sum("THCAtomics" in d for d in done) == 2
    assert not any("THC/" in p.read_text(errors="replace") for p in src.rglob("*.c*"))
    compile(Path(src / "setup.py").read_text(), "setup.py", "exec")


# --- the verdicts --------------------------------------------------------------------------


def _rows(**extra):
    return [
        {"arch_id": a, "variant": v, "status": "ok", **extra} for _, a, _, v in lease.cgp.TRIALS
    ]


def test_flops_must_match_the_cpu_count():
    cpu = {f"{a}/{v}": {"gflops": 1.5, "params_m": 3.0} for _, a, _, v in lease.cgp.TRIALS}
    assert lease.flops_check(_rows(gflops=1.5), cpu).status == "ok"
    rows = _rows(gflops=1.5)
    rows[5]["gflops"] = 1.2  # DINO counted differently on the GPU
    check = lease.flops_check(rows, cpu)
    assert check.status == "FAIL" and "dino-4scale-r50: GPU 1.2000 vs CPU 1.5000" in check.detail


def test_memory_peaks_are_required_and_consistent():
    good = {
        "train_gpu_alloc_peak_gib": 1.0,
        "train_gpu_reserved_peak_gib": 1.5,
        "infer_gpu_alloc_peak_gib": 0.2,
        "infer_gpu_alloc_peak_gib_fp16": 0.1,
    }
    assert lease.memory_check(_rows(**good), 139.0).status == "ok"
    check = lease.memory_check(_rows(**{**good, "infer_gpu_alloc_peak_gib_fp16": None}), 139.0)
    assert check.status == "FAIL" and "infer_gpu_alloc_peak_gib_fp16" in check.detail
    swapped = {**good, "train_gpu_reserved_peak_gib": 0.5}
    assert lease.memory_check(_rows(**swapped), 139.0).status == "FAIL"


def test_benchmark_ratio_is_stated_and_bounded():
    result = {
        "ms_per_img": 6.0,
        "fps": 166.7,
        "iters": 200,
        "warmup": 5,
        "benchsel": {
            "latency_predict_p50_ms": 5.0,
            "latency_forward_p50_ms": 3.0,
            "latency_e2e_p50_ms": 8.0,
        },
    }
    check = lease.benchmark_check(result)
    assert check.status == "ok" and "predict p50 5.00 ms (x1.20)" in check.detail
    assert check.data["ratios"]["forward"] == pytest.approx(2.0)
    result["ms_per_img"] = 12.0
    assert lease.benchmark_check(result).status == "FAIL"


# --- the dry run ---------------------------------------------------------------------------


def test_dry_run_reports_every_cuda_step_skipped_without_a_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "check_gpu_path.py"),
            "--device-lease",
            "--dry-run",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == (0 if MANIFEST.exists() else 1), proc.stdout + proc.stderr
    assert "plan for the H200 lease (no GPU here): build estimate" in proc.stdout
    data = json.loads((tmp_path / lease.REPORT).read_text())
    assert (tmp_path / lease.LOG).stat().st_size < 1 << 20
    assert (tmp_path / lease.REPORT).stat().st_size < 1 << 20
    assert data["schema"] == 1 and data["mode"] == "dry-run"
    assert data["plan"]["settings"]["TORCH_CUDA_ARCH_LIST"] == "9.0"
    names = [c["name"] for c in data["checks"]]
    assert names == ["machine", "wheelhouse", "mmcv build", *lease.check_step_names()]
    for c in data["checks"]:
        assert set(c) == {"name", "status", "detail", "seconds", "data"}
        if c["name"] != "wheelhouse":
            assert c["status"] == "skipped: no GPU", c
    assert data["skipped"] == len(names) - 1
    assert data["passed"] + data["failed"] == 1
