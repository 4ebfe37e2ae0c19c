"""The results store: one SQLite file per suite, one transaction per finished trial.

The schema evolves by an ordered list of small migrations (``PRAGMA user_version`` is the
number applied). Reports and recommendations read the store, never a live run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchsel.errors import BenchselError

MIGRATIONS: list[str] = [
    # 1: runs, trials and one row per (trial, metric)
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        suite_name TEXT NOT NULL,
        suite_json TEXT NOT NULL,
        started REAL NOT NULL,
        finished REAL,
        environment_json TEXT,
        dataset_json TEXT
    );
    CREATE TABLE trials (
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
    );
    CREATE TABLE metrics (
        trial_hash TEXT NOT NULL REFERENCES trials(hash) ON DELETE CASCADE,
        name TEXT NOT NULL,
        value REAL,
        unit TEXT,
        PRIMARY KEY (trial_hash, name)
    );
    CREATE INDEX metrics_by_name ON metrics(name);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def metric_unit(name: str) -> str:
    """The unit of a metric, read from its name's suffix."""
    if name.endswith("_per_s"):
        return name.split("_per_s")[0].rsplit("_", 1)[-1] + "/s"
    for suffix, unit in (
        ("_ms", "ms"),
        ("_mb", "MiB"),
        ("_gb", "GiB"),
        ("_usd", "USD"),
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
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise BenchselError(
                f"{self.path} has schema version {version}, newer than this benchsel "
                f"({SCHEMA_VERSION}); upgrade benchsel"
            )
        for number in range(version, SCHEMA_VERSION):
            with self.transaction() as conn:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

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

    def finish_run(self, run_id: int) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET finished = ? WHERE id = ?", (time.time(), run_id))

    def save_trial(self, record: TrialRecord, run_id: int | None = None) -> None:
        """Replace the trial's row and all its metrics in one transaction."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM trials WHERE hash = ?", (record.hash,))
            conn.execute(
                "INSERT INTO trials (hash, run_id, suite_name, arch_id, family, task, variant, "
                "loss, data_fraction, seed, spec_json, status, error, started, finished, wall_s,"
                " log_path, checkpoint_path, conditions_json, environment_json, curves_json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.hash,
                    run_id,
                    record.suite_name,
                    record.arch_id,
                    record.family,
                    record.task,
                    record.variant,
                    record.loss,
                    record.data_fraction,
                    record.seed,
                    json.dumps(record.spec, default=str),
                    record.status,
                    record.error,
                    record.started,
                    record.finished,
                    record.wall_s,
                    record.log_path,
                    record.checkpoint_path,
                    json.dumps(record.conditions, default=str),
                    json.dumps(record.environment, default=str),
                    json.dumps(record.curves, default=str),
                ),
            )
            conn.executemany(
                "INSERT INTO metrics (trial_hash, name, value, unit) VALUES (?, ?, ?, ?)",
                [
                    (record.hash, name, _finite_or_none(value), metric_unit(name))
                    for name, value in sorted(record.metrics.items())
                ],
            )

    # -- reading

    def finished_hashes(self, statuses: tuple[str, ...] = ("ok",)) -> set[str]:
        marks = ",".join("?" * len(statuses))
        rows = self.conn.execute(f"SELECT hash FROM trials WHERE status IN ({marks})", statuses)
        return {r[0] for r in rows}

    def trials(self) -> list[TrialRecord]:
        """Every stored trial with its metrics, ordered by start time."""
        cur = self.conn.execute("SELECT * FROM trials ORDER BY started, hash")
        cols = [c[0] for c in cur.description]
        metrics: dict[str, dict[str, float | None]] = {}
        for trial_hash, name, value in self.conn.execute(
            "SELECT trial_hash, name, value FROM metrics"
        ):
            metrics.setdefault(trial_hash, {})[name] = value
        out = []
        for row in cur.fetchall():
            r = dict(zip(cols, row, strict=True))
            out.append(
                TrialRecord(
                    hash=r["hash"],
                    suite_name=r["suite_name"],
                    arch_id=r["arch_id"],
                    family=r["family"],
                    task=r["task"],
                    variant=r["variant"],
                    loss=r["loss"],
                    data_fraction=r["data_fraction"],
                    seed=r["seed"],
                    spec=json.loads(r["spec_json"]),
                    status=r["status"],
                    error=r["error"],
                    started=r["started"],
                    finished=r["finished"],
                    wall_s=r["wall_s"],
                    log_path=r["log_path"],
                    checkpoint_path=r["checkpoint_path"],
                    conditions=json.loads(r["conditions_json"] or "{}"),
                    environment=json.loads(r["environment_json"] or "{}"),
                    curves=json.loads(r["curves_json"] or "{}"),
                    metrics=metrics.get(r["hash"], {}),
                )
            )
        return out

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


def _finite_or_none(value: float | None) -> float | None:
    import math

    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def open_store(path: Path, must_exist: bool = False) -> ResultsStore:
    if must_exist and not Path(path).is_file():
        raise BenchselError(f"results file {path} not found")
    return ResultsStore(Path(path))


def trials_frame(store: ResultsStore) -> Any:
    """One row per trial: its spec columns, status and every metric (pandas DataFrame)."""
    import pandas as pd

    rows = []
    for t in store.trials():
        row: dict[str, Any] = {
            "hash": t.hash,
            "arch_id": t.arch_id,
            "family": t.family,
            "task": t.task,
            "variant": t.variant,
            "loss": t.loss,
            "data_fraction": t.data_fraction,
            "seed": t.seed,
            "status": t.status,
            "error": t.error,
            "wall_s": t.wall_s,
        }
        row.update(t.metrics)
        rows.append(row)
    return pd.DataFrame(rows)
