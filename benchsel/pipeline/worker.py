"""Runs one trial in its own process: ``python -m benchsel.pipeline.worker OUTPUT HASH``.

Reads the trial's ``spec.json`` and the run's prepared data; writes the trial's
``outcome.json`` atomically when the trial ends (ok or failed). A crash, an out-of-memory kill
or a timeout leaves no outcome, and the driver records the failure.
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
    output, trial_hash = Path(argv[0]), argv[1]
    from benchsel.pipeline.layout import RunLayout
    from benchsel.pipeline.plan import TrialSpec
    from benchsel.pipeline.prepare import PreparedData
    from benchsel.pipeline.trial import run_trial

    layout = RunLayout(output)
    files = layout.trial(trial_hash)
    spec = TrialSpec.model_validate_json(files.spec.read_text())
    prepared = PreparedData.load(layout.prepared)
    outcome = run_trial(spec, prepared, files)
    tmp = files.outcome.with_suffix(".json.tmp")
    tmp.write_text(outcome.to_json())
    os.replace(tmp, files.outcome)
    if outcome.error:
        print(outcome.error, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
