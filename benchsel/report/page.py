"""The figures of one report page, in the order the sections add them."""

from __future__ import annotations

from typing import Any

from benchsel.formatting import json_safe


class PageFigures:
    """Collects a page's figures: each section adds its own and gets back its place on the page
    (element id and caption), or one sentence where the plot would be empty of information."""

    def __init__(self) -> None:
        self.figures: list[dict[str, Any]] = []

    def add(
        self, fig: dict[str, Any] | None, caption: str, instead: str | None = None
    ) -> dict[str, Any] | None:
        """The place of ``fig`` on the page; ``instead`` replaces the figure with a sentence;
        None when there is no figure and nothing to say."""
        if instead is not None:
            return {"id": None, "caption": instead}
        if fig is None:
            return None
        self.figures.append(json_safe(fig))
        return {"id": f"fig{len(self.figures) - 1}", "caption": caption}
