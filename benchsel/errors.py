"""Errors that are the user's to fix: the CLI prints them without a traceback and exits non-zero."""

from __future__ import annotations


class BenchselError(Exception):
    """A problem the user can fix (bad file, unknown id, unreadable checkpoint)."""

    exit_code = 1


class SuiteError(BenchselError):
    """The suite file is malformed; the message lists each offending key path."""


class CatalogError(BenchselError):
    """Unknown architecture or variant id, or a broken catalog entry."""


class CheckpointError(BenchselError):
    """A checkpoint could not be fetched, was refused as unsafe, or does not fit the model."""


class DataError(BenchselError):
    """A dataset could not be read or failed validation."""
