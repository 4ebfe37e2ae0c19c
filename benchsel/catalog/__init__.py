"""The architecture catalog (data in ``architectures.yaml``, types in ``registry``)."""

from benchsel.catalog.registry import (
    Architecture,
    Catalog,
    Family,
    Reference,
    Variant,
    load_catalog,
)

__all__ = [
    "Architecture",
    "Catalog",
    "Family",
    "Reference",
    "Variant",
    "load_catalog",
]
