"""The store as a table: one row per trial (pandas), for `benchsel results --csv` and notebooks."""

from __future__ import annotations

from typing import Any

from benchsel.store.store import ResultsStore

FRAME_COLUMNS = (
    "hash",
    "arch_id",
    "family",
    "task",
    "variant",
    "loss",
    "data_fraction",
    "seed",
    "status",
    "error",
    "wall_s",
)


def trials_frame(store: ResultsStore) -> Any:
    """One row per trial: its spec columns, status and every metric (pandas DataFrame)."""
    import pandas as pd

    rows = []
    for t in store.trials():
        row: dict[str, Any] = {"name": t.option}
        row.update({name: getattr(t, name) for name in FRAME_COLUMNS})
        row.update(t.metrics)
        rows.append(row)
    return pd.DataFrame(rows)
