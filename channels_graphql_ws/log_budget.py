"""A bounded allowance of error records with tracebacks, per process.

One client repeating a failing operation, or a channel layer that is down
failing every broadcast, must not flood the log: past ``burst`` records in
``window`` seconds, failures are only counted, and the count is logged when
the next window opens. Safe across threads (sync broadcasts fail in theirs).
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)


class LogBudget:
    """An allowance of ``burst`` records per ``window`` seconds of ``what``."""

    def __init__(self, what: str = "errors", burst: int = 20, window: float = 10.0) -> None:
        self.what = what
        self.burst = burst
        self.window = window
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Start over with the whole allowance (tests do, between cases)."""
        self._window_start = -self.window
        self._used = 0
        self.suppressed = 0

    def allow(self) -> bool:
        """Whether one more record may be logged now; counts it if not."""
        with self._lock:
            now = time.monotonic()
            if now - self._window_start >= self.window:
                if self.suppressed:
                    log.warning(
                        "%d more %s were not logged in the last %.0f s.",
                        self.suppressed,
                        self.what,
                        now - self._window_start,
                    )
                self._window_start, self._used, self.suppressed = now, 0, 0
            if self._used < self.burst:
                self._used += 1
                return True
            self.suppressed += 1
            return False
