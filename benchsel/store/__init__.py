"""The results store: one SQLite file per suite, one transaction per finished trial.

``store.py`` opens, locks, writes and reads the file; ``records.py`` holds what is stored (a
trial's and a run's record); ``migrations.py`` the schema as named migrations; ``export.py`` the
table view. Reports and recommendations read the store, never a live run.
"""

from benchsel.store.export import FRAME_COLUMNS, trials_frame
from benchsel.store.migrations import MIGRATIONS, SCHEMA_VERSION
from benchsel.store.records import RunRecord, TrialRecord, metric_unit
from benchsel.store.store import ResultsStore, StoreLockedError, open_store

__all__ = [
    "FRAME_COLUMNS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "ResultsStore",
    "RunRecord",
    "StoreLockedError",
    "TrialRecord",
    "metric_unit",
    "open_store",
    "trials_frame",
]
