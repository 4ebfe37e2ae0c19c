"""The results store: one SQLite file per suite, one transaction per finished trial.

The schema evolves by named migrations (functions below); the names applied are recorded in
the ``_migrations`` table. Reports and recommendations read the store, never a live run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from benchsel.errors import BenchselError
from benchsel.formatting import finite_or_none, trial_label


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


# Applied in order; each is known by its function name, recorded in `_migrations` when applied
# (simonw/llm's scheme). Append new ones; never rename or reorder applied ones.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    m001_runs_trials_metrics,
    m002_eval_states,
    m003_val_predictions,
]
SCHEMA_VERSION = len(MIGRATIONS)


def metric_unit(name: str) -> str:
    """The unit of a metric, read from its name's suffix (after ``_b<batch>`` / ``_fp16``)."""
    name = re.sub(r"(_b\d+|_fp16|_fp32)+$", "", name)
    if name.endswith("_per_s"):
        return name.split("_per_s")[0].rsplit("_", 1)[-1] + "/s"
    for suffix, unit in (
        ("_ms", "ms"),
        ("_mib", "MiB"),
        ("_gib", "GiB"),
        ("_usd", "USD"),
        ("_cpu_hours", "CPU-hours"),
        ("_gpu_hours", "GPU-hours"),
        ("_hours", "h"),
        ("_s", "s"),
        ("gflops", "GFLOPs"),
        ("params_m", "M"),
    ):
        if name.endswith(suffix):
            return unit
    if name.startswith(("fps", "throughput_fps")):
        return "frames/s"
    if name.endswith(("_images", "_units", "_iters")):
        return "count"
    return "fraction"


@dataclass
class TrialRecord:
    """Everything stored about one finished trial."""

    hash: str
    suite_name: str
    arch_id: str
    family: str
    task: str
    variant: str
    loss: str | None
    data_fraction: float
    seed: int
    spec: dict[str, Any]
    status: str
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    wall_s: float | None = None
    log_path: str | None = None
    checkpoint_path: str | None = None
    conditions: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    eval_states: Mapping[str, bytes] = field(default_factory=dict)  # evaluation -> npz bytes
    val_predictions: bytes | None = None  # ValPredictions.to_bytes()

    @property
    def option(self) -> str:
        """The candidate's name: the suite's ``name`` for it, else ``rtmdet-tiny [r18-light]``."""
        return self.spec.get("name") or trial_label(self.arch_id, self.variant, self.loss)

    @property
    def label(self) -> str:
        """Short human name: ``rtmdet-tiny [r18-light, dice_ce] @0.5 #1``."""
        name = self.spec.get("name")
        if not name:
            return trial_label(self.arch_id, self.variant, self.loss, self.data_fraction, self.seed)
        name += f" @{self.data_fraction:g}" if self.data_fraction != 1.0 else ""
        return name + (f" #{self.seed}" if self.seed else "")


# TrialRecord fields stored as JSON text in a ``<name>_json`` column; metrics have their table.
_JSON_FIELDS = ("spec", "conditions", "environment", "curves")
_OWN_TABLES = ("metrics", "eval_states", "val_predictions")


def _trial_row(record: TrialRecord) -> dict[str, Any]:
    """The ``trials`` row of a record: one column per field, JSON for the structured ones."""
    row: dict[str, Any] = {}
    for f in fields(TrialRecord):
        value = getattr(record, f.name)
        if f.name in _OWN_TABLES:
            continue
        if f.name in _JSON_FIELDS:
            row[f"{f.name}_json"] = json.dumps(value, default=str)
        else:
            row[f.name] = value
    return row


def _trial_from_row(
    row: dict[str, Any],
    metrics: Mapping[str, float | None],
    states: Mapping[str, bytes],
    predictions: bytes | None = None,
) -> TrialRecord:
    values: dict[str, Any] = {}
    for f in fields(TrialRecord):
        if f.name == "metrics":
            values["metrics"] = metrics
        elif f.name == "eval_states":
            values["eval_states"] = states
        elif f.name == "val_predictions":
            values["val_predictions"] = predictions
        elif f.name in _JSON_FIELDS:
            values[f.name] = json.loads(row[f"{f.name}_json"] or "{}")
        else:
            values[f.name] = row[f.name]
    return TrialRecord(**values)


class StoreLockedError(BenchselError):
    """Another benchsel run holds the store."""


class ResultsStore:
    """A SQLite results file. Use as a context manager or call ``close()``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = FULL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise BenchselError(
                f"{self.path} is not a usable benchsel results file: {exc}"
            ) from None
        self._lock_fd: int | None = None

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.unlock()
        self.conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; a failed write (disk full, I/O error) rolls back and raises a
        BenchselError, leaving rows written before intact."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise BenchselError(
                f"cannot write results to {self.path}: {exc}. Earlier results are intact; "
                "free some space and run again to resume."
            ) from None

    def _migrate(self) -> None:
        """Apply the migrations not yet recorded, each in its own transaction."""
        # user_version counts the applied migrations (the only record before they had names).
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise BenchselError(
                f"{self.path} has schema version {version}, newer than this benchsel "
                f"({SCHEMA_VERSION}); upgrade benchsel"
            )
        with self.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL)"
            )
            for migration in MIGRATIONS[:version]:
                conn.execute(
                    "INSERT OR IGNORE INTO _migrations VALUES (?, ?)",
                    (migration.__name__, time.time()),
                )
        applied = self.applied_migrations
        known = {m.__name__ for m in MIGRATIONS}
        if set(applied) - known:
            raise BenchselError(
                f"{self.path} was written by a newer benchsel (migrations "
                f"{', '.join(sorted(set(applied) - known))}); upgrade benchsel"
            )
        for migration in MIGRATIONS:
            if migration.__name__ in applied:
                continue
            with self.transaction() as conn:
                migration(conn)
                conn.execute(
                    "INSERT INTO _migrations VALUES (?, ?)", (migration.__name__, time.time())
                )
                conn.execute(f"PRAGMA user_version = {len(self.applied_migrations)}")

    @property
    def applied_migrations(self) -> list[str]:
        """Names of the applied migrations, in the order they were applied."""
        rows = self.conn.execute("SELECT name FROM _migrations ORDER BY rowid")
        return [r[0] for r in rows]

    @property
    def schema_version(self) -> int:
        return len(self.applied_migrations)

    # -- single-writer lock: two `benchsel run` on one store must not interleave

    def lock(self) -> None:
        """Take the run lock or raise StoreLockedError naming the holder."""
        lock_path = self.path.with_suffix(self.path.suffix + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise StoreLockedError(
                f"{self.path} is in use by another benchsel run ({holder}); wait for it to "
                "finish or use another output folder"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} since {time.strftime('%H:%M:%S')}".encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- writing

    def start_run(
        self,
        suite_name: str,
        suite: dict[str, Any],
        environment: dict[str, Any],
        dataset: dict[str, Any],
    ) -> int:
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO runs (suite_name, suite_json, started, environment_json, "
                "dataset_json) VALUES (?, ?, ?, ?, ?)",
                (
                    suite_name,
                    json.dumps(suite, default=str),
                    time.time(),
                    json.dumps(environment, default=str),
                    json.dumps(dataset, default=str),
                ),
            )
            return int(cur.lastrowid or 0)

    def annotate_latest_run(self, key: str, value: Any) -> None:
        """Add ``key`` to the latest run's dataset record (e.g. the racing log)."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT id, dataset_json FROM runs ORDER BY id DESC LIMIT 1"
            ).fetchone()
            if row is None:
                return
            data = json.loads(row[1] or "{}")
            data[key] = value
            conn.execute(
                "UPDATE runs SET dataset_json = ? WHERE id = ?",
                (json.dumps(data, default=str), row[0]),
            )

    def finish_run(self, run_id: int) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET finished = ? WHERE id = ?", (time.time(), run_id))

    def save_trial(self, record: TrialRecord, run_id: int | None = None) -> None:
        """Replace the trial's row and all its metrics in one transaction."""
        row = _trial_row(record)
        row["run_id"] = run_id
        with self.transaction() as conn:
            conn.execute("DELETE FROM trials WHERE hash = ?", (record.hash,))
            conn.execute(
                f"INSERT INTO trials ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )
            conn.executemany(
                "INSERT INTO metrics (trial_hash, name, value, unit) VALUES (?, ?, ?, ?)",
                [
                    (record.hash, name, finite_or_none(value), metric_unit(name))
                    for name, value in sorted(record.metrics.items())
                ],
            )
            conn.executemany(
                "INSERT INTO eval_states (trial_hash, evaluation, data) VALUES (?, ?, ?)",
                [(record.hash, k, v) for k, v in sorted(record.eval_states.items())],
            )
            if record.val_predictions is not None:
                conn.execute(
                    "INSERT INTO val_predictions (trial_hash, data) VALUES (?, ?)",
                    (record.hash, record.val_predictions),
                )

    # -- reading

    def finished_hashes(self, statuses: tuple[str, ...] = ("ok",)) -> set[str]:
        marks = ",".join("?" * len(statuses))
        rows = self.conn.execute(f"SELECT hash FROM trials WHERE status IN ({marks})", statuses)
        return {r[0] for r in rows}

    def trials(self) -> list[TrialRecord]:
        """Every stored trial with its metrics, ordered by start time."""
        cur = self.conn.execute("SELECT * FROM trials ORDER BY started, hash")
        assert cur.description[0][0] == "hash"
        cols = [c[0] for c in cur.description]
        metrics: dict[str, dict[str, float | None]] = {}
        for trial_hash, name, value in self.conn.execute(
            "SELECT trial_hash, name, value FROM metrics"
        ):
            metrics.setdefault(trial_hash, {})[name] = value
        states: dict[str, dict[str, bytes]] = {}
        for trial_hash, name, data in self.conn.execute(
            "SELECT trial_hash, evaluation, data FROM eval_states"
        ):
            states.setdefault(trial_hash, {})[name] = bytes(data)
        predictions = {
            trial_hash: bytes(data)
            for trial_hash, data in self.conn.execute(
                "SELECT trial_hash, data FROM val_predictions"
            )
        }
        return [
            _trial_from_row(
                dict(zip(cols, row, strict=True)),
                metrics.get(row[0], {}),
                states.get(row[0], {}),
                predictions.get(row[0]),
            )
            for row in cur.fetchall()
        ]

    def latest_run(self) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT suite_name, suite_json, started, finished, environment_json, dataset_json "
            "FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return {
            "suite_name": row[0],
            "suite": json.loads(row[1]),
            "started": row[2],
            "finished": row[3],
            "environment": json.loads(row[4] or "{}"),
            "dataset": json.loads(row[5] or "{}"),
        }

    def integrity_ok(self) -> bool:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def open_store(path: Path, must_exist: bool = False) -> ResultsStore:
    if must_exist and not Path(path).is_file():
        raise BenchselError(f"results file {path} not found")
    return ResultsStore(Path(path))


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
