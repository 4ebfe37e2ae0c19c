"""The store's schema, as named migrations (simonw/llm's scheme): each is a function known by its
name, recorded in the ``_migrations`` table when applied; ``PRAGMA user_version`` counts them.
Append new ones; never rename or reorder applied ones.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from benchsel.errors import BenchselError


def m001_runs_trials_metrics(conn: sqlite3.Connection) -> None:
    """Runs, trials and one row per (trial, metric)."""
    conn.execute(
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            suite_name TEXT NOT NULL,
            suite_json TEXT NOT NULL,
            started REAL NOT NULL,
            finished REAL,
            environment_json TEXT,
            dataset_json TEXT
        )"""
    )
    conn.execute(
        """CREATE TABLE trials (
            hash TEXT PRIMARY KEY,
            run_id INTEGER REFERENCES runs(id),
            suite_name TEXT NOT NULL,
            arch_id TEXT NOT NULL,
            family TEXT NOT NULL,
            task TEXT NOT NULL,
            variant TEXT NOT NULL,
            loss TEXT,
            data_fraction REAL NOT NULL,
            seed INTEGER NOT NULL,
            spec_json TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'timeout')),
            error TEXT,
            started REAL,
            finished REAL,
            wall_s REAL,
            log_path TEXT,
            checkpoint_path TEXT,
            conditions_json TEXT,
            environment_json TEXT,
            curves_json TEXT
        )"""
    )
    conn.execute(
        """CREATE TABLE metrics (
            trial_hash TEXT NOT NULL REFERENCES trials(hash) ON DELETE CASCADE,
            name TEXT NOT NULL,
            value REAL,
            unit TEXT,
            PRIMARY KEY (trial_hash, name)
        )"""
    )
    conn.execute("CREATE INDEX metrics_by_name ON metrics(name)")


def m002_eval_states(conn: sqlite3.Connection) -> None:
    """Per-image evaluation states (npz bytes) for bootstrap intervals and paired comparisons."""
    conn.execute(
        """CREATE TABLE eval_states (
            trial_hash TEXT NOT NULL REFERENCES trials(hash) ON DELETE CASCADE,
            evaluation TEXT NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (trial_hash, evaluation)
        )"""
    )


def m003_val_predictions(conn: sqlite3.Connection) -> None:
    """Each trial's predictions on the val split with their labels (npz bytes), for label-issue
    ranking and the report's crops (benchsel.evaluation.val_predictions)."""
    conn.execute(
        """CREATE TABLE val_predictions (
            trial_hash TEXT PRIMARY KEY REFERENCES trials(hash) ON DELETE CASCADE,
            data BLOB NOT NULL
        )"""
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    m001_runs_trials_metrics,
    m002_eval_states,
    m003_val_predictions,
]
SCHEMA_VERSION = len(MIGRATIONS)


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    """Names of the applied migrations, in the order they were applied."""
    rows = conn.execute("SELECT name FROM _migrations ORDER BY rowid")
    return [r[0] for r in rows]


def migrate(
    conn: sqlite3.Connection,
    path: Path,
    transaction: Callable[[], contextlib.AbstractContextManager[sqlite3.Connection]],
) -> None:
    """Apply the migrations not yet recorded, each in its own ``transaction()``."""
    # user_version counts the applied migrations (the only record before they had names).
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise BenchselError(
            f"{path} has schema version {version}, newer than this benchsel "
            f"({SCHEMA_VERSION}); upgrade benchsel"
        )
    with transaction() as tx:
        tx.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL)")
        for migration in MIGRATIONS[:version]:
            tx.execute(
                "INSERT OR IGNORE INTO _migrations VALUES (?, ?)",
                (migration.__name__, time.time()),
            )
    applied = applied_migrations(conn)
    known = {m.__name__ for m in MIGRATIONS}
    if set(applied) - known:
        raise BenchselError(
            f"{path} was written by a newer benchsel (migrations "
            f"{', '.join(sorted(set(applied) - known))}); upgrade benchsel"
        )
    for migration in MIGRATIONS:
        if migration.__name__ in applied:
            continue
        with transaction() as tx:
            migration(tx)
            tx.execute("INSERT INTO _migrations VALUES (?, ?)", (migration.__name__, time.time()))
            tx.execute(f"PRAGMA user_version = {len(applied_migrations(tx))}")
