#!/usr/bin/env bash
# Create or update benchsel's environment in $VENV (default .venv).
#
# mmcv 2.1.0 has no wheels for current torch, so it is built from source with its compiled ops
# (CUDA ops too when nvcc and a CUDA torch are present). pip caches the built wheel, so only the
# first install on a machine pays the ~12 minutes. See README "Installing".
set -euo pipefail

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
EXTRAS=${EXTRAS:-dev,ray}

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
pip() { "$PY" -m pip "$@"; }

# mmcv's build needs pkg_resources (removed in setuptools 81); torch needs setuptools>=77.
pip install -q "setuptools>=77,<81" wheel

# torch: keep whatever torch is already there (e.g. a CUDA build the user installed),
# otherwise 2.13.0, which this project's machines serve as a CPU build.
if ! "$PY" -c "import torch" 2>/dev/null; then
    pip install -q "torch==2.13.0"
fi
pip install -q "numpy>=1.24" "mmengine>=0.10.4,<0.11" opencv-python-headless

if ! "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
    FORCE_CUDA=0
    if command -v nvcc >/dev/null && "$PY" -c "import torch, sys; sys.exit(torch.version.cuda is None)"; then
        FORCE_CUDA=1
    fi
    echo "Building mmcv 2.1.0 with compiled ops (FORCE_CUDA=$FORCE_CUDA); first time takes ~12 min."
    MMCV_WITH_OPS=1 FORCE_CUDA=$FORCE_CUDA MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        pip install -q --no-build-isolation "mmcv==2.1.0"
fi

# panopticapi-lite pins numpy<2 in its metadata but runs on numpy 2; install it without deps.
pip install -q --no-deps "panopticapi-lite==0.2.0"
pip install -q scikit-image platformdirs

pip install -q -e ".[$EXTRAS]"
"$PY" -c "import mmcv.ops, mmdet, mmseg, benchsel" 
touch "$VENV/.benchsel-installed"
echo "benchsel environment ready in $VENV"
