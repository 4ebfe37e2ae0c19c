"""Peak memory of a measurement: CUDA allocator peak on GPU, resident set peak on CPU."""

from __future__ import annotations

import resource
from pathlib import Path

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


class PeakMemory:
    """Context manager: ``peak_mb`` after exit, and ``what`` says what was measured.

    CUDA: ``torch.cuda.max_memory_allocated`` reset on entry. CPU: the process's peak resident
    set (VmHWM), reset on entry where Linux allows it, else the process-lifetime peak.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self.peak_mb = 0.0
        self.what = ""

    def __enter__(self) -> PeakMemory:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.what = "torch.cuda.max_memory_allocated (reset before the measurement)"
        elif _reset_rss_peak():
            self.what = "process peak RSS (VmHWM, reset before the measurement)"
        else:
            self.what = "process peak RSS since start (ru_maxrss; could not reset)"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize(self.device)
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self.peak_mb = _rss_peak_mb()


def _reset_rss_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def _rss_peak_mb() -> float:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
