"""Keeping Python's cycle collector from stalling every connection of a process.

A full collection stops all threads while it walks every tracked object
the process holds. On a small shared machine that is about 0.6 us per
object: a Django process with a Graphene schema holds 100,000-150,000 of
them once started, so each full collection paused every connection for
50-100 ms, and a client sending costly documents made them come every few
hundred milliseconds. Two measures:

- ``freeze_startup_objects``: on its first connection a process moves what
  it made while starting (modules, Django, the schema: things that live
  as long as the process) out of the collector's sight with ``gc.freeze``,
  after one last collection. Full collections then walk only what was made
  since.
- ``collector_paused``: while the document worker parses and validates,
  the collector does not run. That work makes tens of thousands of short-
  lived objects, freed by reference counting once it ends (the parser's
  token links and the validation memo are unlinked for that); collections
  meanwhile would only promote them to the oldest generation and bring the
  next full collection sooner.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_freeze_lock = threading.Lock()
_frozen = False


def freeze_startup_objects() -> bool:
    """Freeze the process's objects once; True if this call did it.

    Objects frozen here are never collected: anything of them that later
    becomes cyclic garbage stays. The collection first makes that set as
    small as it can be.
    """
    global _frozen
    if _frozen:
        return False
    with _freeze_lock:
        if _frozen:
            return False
        _frozen = True
        gc.collect()
        gc.freeze()
        return True


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic collection in any thread while this runs (one worker uses it).

    Paused only if the collector was running: a process that turned it off
    keeps it off. Allocations still count, so the first one after the pause
    collects what the pause put off.
    """
    running = gc.isenabled()
    if running:
        gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()
