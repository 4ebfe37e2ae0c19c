"""The architecture catalog (data in ``architectures.yaml``, types in ``registry``)."""

from benchsel.catalog.registry import (
    TASKS,
    Architecture,
    Catalog,
    Family,
    Reference,
    Task,
    Variant,
    load_catalog,
)

__all__ = [
    "TASKS",
    "Architecture",
    "Catalog",
    "Family",
    "Reference",
    "Task",
    "Variant",
    "load_catalog",
]
