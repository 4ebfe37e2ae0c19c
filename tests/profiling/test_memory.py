"""The CPU memory window: an allocation inside it is counted, a baseline is subtracted.

Each case runs in a fresh interpreter: in a long-lived test process the allocator may hand back
pages an earlier test already made resident, and then nothing new is counted (rightly)."""

from __future__ import annotations

import json
import subprocess
import sys

CASE = """
import json, sys
import numpy as np
from benchsel.profiling.memory import PeakMemory, current_rss_mib
mib, below = int(sys.argv[1]), float(sys.argv[2])
baseline = current_rss_mib() - below if below else None
with PeakMemory("cpu", baseline_mib=baseline) as mem:
    block = np.ones(mib * 2**20 // 8)  # np.ones writes every page: resident, not reserved
    float(block[-1])
print(json.dumps({"values": mem.values, "what": mem.what}))
"""


def _window(mib: int, below: float = 0.0) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CASE, str(mib), str(below)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_an_allocation_inside_the_window_is_counted():
    measured = _window(256)
    assert "peak resident set" in measured["what"]
    assert measured["values"]["cpu_mem_increase_mib"] > 200


def test_the_increase_is_over_the_baseline_given():
    # a baseline 100 MiB below the resident set on entry, plus a 128 MiB block
    assert _window(128, below=100)["values"]["cpu_mem_increase_mib"] > 200
