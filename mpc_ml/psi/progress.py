"""A minimal progress bar on stderr for long PSI runs."""

from __future__ import annotations

import sys
import time
from typing import TextIO

AUTO_THRESHOLD = 1 << 17  # items: below this a run takes a few seconds, no bar by default


class Progress:
    """Counts processed items and redraws one stderr line at most ten times a second."""

    def __init__(self, label: str, total: int | None, enabled: bool | None, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = self.stream.isatty() and (total is None or total >= AUTO_THRESHOLD)
        self.label, self.total, self.enabled = label, total, enabled
        self.done, self._shown = 0, 0.0

    def advance(self, count: int) -> None:
        """Record `count` more items."""
        self.done += count
        now = time.monotonic()
        if self.enabled and now - self._shown >= 0.1:
            self._shown = now
            self._draw()

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self) -> None:
        if self.total:
            filled = int(30 * min(self.done, self.total) / self.total)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}"
        else:
            bar = f"{self.done} items"
        self.stream.write(f"\r{self.label}: {bar}")
        self.stream.flush()
