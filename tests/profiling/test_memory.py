"""The CPU memory window: an allocation inside it is counted, a baseline is subtracted."""

from __future__ import annotations

import numpy as np

from benchsel.profiling.memory import PeakMemory, _reset_rss_peak, current_rss_mib

MIB = 2**20


def _touch(mib: int) -> float:
    block = np.ones(mib * MIB // 8)  # np.ones writes every page: resident, not just reserved
    return float(block[-1])


def test_an_allocation_inside_the_window_is_counted():
    with PeakMemory("cpu") as mem:
        _touch(256)
    assert "peak resident set" in mem.what
    assert mem.values["cpu_mem_increase_mib"] > 200


def test_the_increase_is_over_the_baseline_given():
    baseline = current_rss_mib()
    with PeakMemory("cpu", baseline_mib=baseline - 100) as mem:
        _touch(128)
    # 100 MiB below the current resident set, plus the block
    assert mem.values["cpu_mem_increase_mib"] > 200


def test_a_window_without_allocation_stays_small_where_the_peak_can_be_reset():
    _touch(256)  # a high-water mark from before the window
    if not _reset_rss_peak():
        return  # the kernel refuses clear_refs here: the peak is the process's, said in `what`
    with PeakMemory("cpu") as mem:
        pass
    assert mem.values["cpu_mem_increase_mib"] < 64
