"""The data layer: every format loads into canonical annotations (``types``)."""

from benchsel.data.detect import FORMATS, detect_format
from benchsel.data.loader import LoadedData, load_data
from benchsel.data.types import Dataset, ImageRecord, Instance, Issue, Issues, Segment

__all__ = [
    "FORMATS",
    "Dataset",
    "ImageRecord",
    "Instance",
    "Issue",
    "Issues",
    "LoadedData",
    "Segment",
    "detect_format",
    "load_data",
]
