"""Memory of a measurement, in a form that answers "does it fit".

GPU: the CUDA caching allocator's peaks, both allocated (tensors) and reserved (what the
process holds from the driver, what must fit), in GiB. CPU: how much the process's resident
set grew over a baseline taken before the model was built, in MiB (torch and Python themselves,
700-1,200 MiB, are not the model's cost).
"""

from __future__ import annotations

import contextlib
import resource
from pathlib import Path

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")
GIB = 2**30


def release_freed_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc ``malloc_trim``), so a
    later peak measures what is live, not what training left in the allocator."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def current_rss_mib() -> float:
    """The process's resident set now (VmRSS), MiB."""
    return _status_mib("VmRSS:") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakMemory:
    """Context manager: ``values`` (metric suffix -> number) after exit; ``what`` says how.

    CUDA: ``gpu_alloc_peak_gib`` and ``gpu_reserved_peak_gib``, peaks reset on entry. CPU:
    ``cpu_mem_increase_mib``, the peak resident set during the block (VmHWM, reset on entry
    where Linux allows it) minus ``baseline_mib`` (default: the resident set on entry).
    """

    def __init__(self, device: str, baseline_mib: float | None = None) -> None:
        self.device = device
        self.baseline_mib = baseline_mib
        self.values: dict[str, float] = {}
        self.what = ""

    @property
    def on_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def __enter__(self) -> PeakMemory:
        if self.on_cuda:
            import torch

            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.what = (
                "torch.cuda.max_memory_allocated and max_memory_reserved (GiB), peaks reset "
                "before the measurement"
            )
            return self
        if self.baseline_mib is None:
            self.baseline_mib = current_rss_mib()
        peak = "VmHWM, reset before the measurement" if _reset_rss_peak() else "since start"
        self.what = (
            f"peak resident set ({peak}) minus the {self.baseline_mib:.0f} MiB resident before "
            "the model was built, MiB"
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.on_cuda:
            import torch

            torch.cuda.synchronize(self.device)
            self.values = {
                "gpu_alloc_peak_gib": torch.cuda.max_memory_allocated(self.device) / GIB,
                "gpu_reserved_peak_gib": torch.cuda.max_memory_reserved(self.device) / GIB,
            }
        else:
            peak = (
                _status_mib("VmHWM:") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            )
            self.values = {"cpu_mem_increase_mib": max(0.0, peak - (self.baseline_mib or 0.0))}


def _reset_rss_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def _status_mib(field: str) -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None
