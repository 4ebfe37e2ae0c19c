#!/usr/bin/env bash
# Create or update benchsel's environment in $VENV (default .venv).
#
# mmcv 2.1.0 has no wheels for current torch, so it is built from source with its compiled ops
# (CUDA ops too when a CUDA torch and an nvcc of the same CUDA major version are present; see
# scripts/mmcv_build_plan.py). pip caches a CPU build's wheel, so only the first install on a
# machine pays the ~12 minutes; CUDA builds never reuse a cached wheel. See README "GPU".
set -euo pipefail

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
EXTRAS=${EXTRAS:-dev,ray,yolo}  # yolo: mmyolo (GPL-3.0) for YOLOv5/v6/v7/v8; drop it to leave it out

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pip() { "$PY" -m pip "$@"; }

# mmcv's build needs pkg_resources (removed in setuptools 81); torch needs setuptools>=77.
pip install -q "setuptools>=77,<81" wheel

# torch: keep whatever torch is already there (e.g. a CUDA build the user installed),
# otherwise 2.13.0, which this project's machines serve as a CPU build.
if ! "$PY" -c "import torch" 2>/dev/null; then
    pip install -q "torch==2.13.0"
fi
pip install -q "numpy>=1.24" "mmengine>=0.10.4,<0.11" opencv-python-headless

# mmcv: scripts/mmcv_build_plan.py decides whether to build it and how (CUDA ops when torch is a
# CUDA build and an nvcc of the same major version exists; TORCH_CUDA_ARCH_LIST; MAX_JOBS capped
# by memory; uninstall + --no-cache-dir when the installed mmcv lacks ops it needs). It prints
# its reasons and warnings on stderr and shell assignments on stdout.
plan=$("$PY" "$HERE/mmcv_build_plan.py")
eval "$plan"
if [ "$MMCV_PLAN_BUILD" = 1 ]; then
    if [ "$MMCV_PLAN_UNINSTALL" = 1 ]; then
        pip uninstall -y -q mmcv
    fi
    build_env=(MMCV_WITH_OPS=1 FORCE_CUDA="$MMCV_PLAN_FORCE_CUDA" MAX_JOBS="$MMCV_PLAN_MAX_JOBS")
    if [ -n "$MMCV_PLAN_TORCH_CUDA_ARCH_LIST" ]; then
        build_env+=(TORCH_CUDA_ARCH_LIST="$MMCV_PLAN_TORCH_CUDA_ARCH_LIST")
    fi
    if [ -n "$MMCV_PLAN_CUDA_HOME" ]; then
        build_env+=(CUDA_HOME="$MMCV_PLAN_CUDA_HOME" PATH="$MMCV_PLAN_CUDA_HOME/bin:$PATH")
    fi
    if [ "$MMCV_PLAN_HIDE_GPUS" = 1 ]; then
        # mmcv's setup.py compiles CUDA sources whenever torch sees a GPU.
        build_env+=(CUDA_VISIBLE_DEVICES=)
    fi
    pip_flags=(--no-build-isolation)
    if [ "$MMCV_PLAN_NO_CACHE" = 1 ]; then
        pip_flags+=(--no-cache-dir)
    fi
    if [ "$MMCV_PLAN_FORCE_CUDA" = 1 ]; then
        echo "Building mmcv 2.1.0 with CUDA and CPU ops (no cached wheel); nvcc takes a while."
    else
        echo "Building mmcv 2.1.0 with compiled CPU ops; first time takes ~12 min."
    fi
    env "${build_env[@]}" "$PY" -m pip install -q "${pip_flags[@]}" "mmcv==2.1.0"
    if ! "$PY" "$HERE/mmcv_build_plan.py" --verify; then
        if [ "$MMCV_PLAN_NO_CACHE" = 1 ]; then
            exit 1
        fi
        # pip's cached wheel was built against another torch (or without ops): build afresh.
        echo "The mmcv wheel from pip's cache does not work here; rebuilding it without the cache."
        pip uninstall -y -q mmcv
        env "${build_env[@]}" "$PY" -m pip install -q "${pip_flags[@]}" --no-cache-dir "mmcv==2.1.0"
        "$PY" "$HERE/mmcv_build_plan.py" --verify
    fi
fi

# panopticapi-lite pins numpy<2 in its metadata but runs on numpy 2; install it without deps.
pip install -q --no-deps "panopticapi-lite==0.2.0"
pip install -q scikit-image platformdirs

pip install -q -e ".[$EXTRAS]"
"$PY" -c "import mmcv.ops, mmdet, mmseg, benchsel" 
touch "$VENV/.benchsel-installed"
echo "benchsel environment ready in $VENV"
