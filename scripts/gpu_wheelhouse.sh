#!/usr/bin/env bash
# Download into .whl/ (ignored) every wheel benchsel needs on the bare GPU machine that its
# python3 lacks, pinned to .venv's versions, plus the mmcv 2.1.0 source; print the total size.
# Carry it with `run(..., carry=[".whl"])`: scripts/gpu_lease.md. Needs network and .venv
# (make install). Arguments go to scripts/gpu_wheelhouse.py (--check: only check .whl/).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PY:-$HERE/../.venv/bin/python}
exec "$PY" "$HERE/gpu_wheelhouse.py" "$@"
