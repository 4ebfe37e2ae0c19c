"""Small shared conversions: undefined numbers to None, strict JSON, a trial's display name."""

from __future__ import annotations

import math
from typing import Any


def finite_or_none(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing, NaN or infinite (an undefined metric)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def json_safe(value: Any) -> Any:
    """``value`` with NaN / infinities replaced by None, recursively (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def trial_label(
    arch_id: str,
    variant: str = "default",
    loss: str | None = None,
    data_fraction: float = 1.0,
    seed: int = 0,
) -> str:
    """Short human name of a trial: ``rtmdet-tiny [r18-light, dice_ce] @0.5 #1``."""
    extras = [x for x in (None if variant == "default" else variant, loss) if x]
    name = arch_id + (f" [{', '.join(extras)}]" if extras else "")
    if data_fraction != 1.0:
        name += f" @{data_fraction:g}"
    return name + (f" #{seed}" if seed else "")
