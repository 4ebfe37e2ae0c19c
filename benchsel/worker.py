"""Runs one trial in its own process: ``python -m benchsel.worker SPEC PREPARED OUT_DIR``.

Writes ``OUT_DIR/outcome.json`` atomically when the trial ends (ok or failed); a crash, an
out-of-memory kill or a timeout leaves no outcome, and the driver records the failure.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path


def die_with_parent() -> None:
    """Linux: get SIGKILL when the driver dies (kill -9 included), so no trial is orphaned."""
    import ctypes
    import signal

    parent = int(os.environ.get("BENCHSEL_PARENT_PID", "0"))
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if parent and os.getppid() != parent:  # the driver died before prctl took effect
        os._exit(1)


def main(argv: list[str]) -> int:
    die_with_parent()
    spec_path, prepared_path, out_dir = (Path(a) for a in argv)
    from benchsel.prepare import PreparedData
    from benchsel.trial import run_trial
    from benchsel.trials import TrialSpec

    spec = TrialSpec.model_validate_json(spec_path.read_text())
    prepared = PreparedData.load(prepared_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    outcome = run_trial(spec, prepared, out_dir)
    tmp = out_dir / "outcome.json.tmp"
    tmp.write_text(outcome.to_json())
    os.replace(tmp, out_dir / "outcome.json")
    if outcome.error:
        print(outcome.error, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
