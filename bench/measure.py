"""Helpers the contenders share: memory measurement and deterministic sampling."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Sequence


def memory(
    load: Callable[[], list], model: type, remaining: Callable[[], int] | None = None
) -> dict:
    """Trace the Python allocations of ``load()`` (which returns the loaded objects).

    Returns bytes relative to before the load: ``peak`` during it, ``held`` while the
    objects are referenced, ``dropped`` after the last reference went and a collection
    ran; per object too. Then ``alive``: how many ``model`` instances still exist (the
    proof that dropped objects were freed), and ``remaining()``: how many objects the
    contender's session still maps (None: no session). Bytes can remain after the drop
    without any object: a dict keeps the capacity it grew to when entries leave it.
    """
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        objects = load()
        held, peak = tracemalloc.get_traced_memory()
        count = len(objects)
        del objects
        gc.collect()
        dropped = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    alive = sum(1 for obj in gc.get_objects() if type(obj) is model)
    per = max(count, 1)
    return {
        "objects": count,
        "peak_bytes": peak - base,
        "held_bytes": held - base,
        "dropped_bytes": dropped - base,
        "held_per_object": (held - base) / per,
        "dropped_per_object": (dropped - base) / per,
        "alive": alive,
        "still_mapped": remaining() if remaining is not None else None,
    }


def sample(items: Sequence, count: int = 50) -> list:
    """About ``count`` items spread over ``items``, first and last included."""
    if len(items) <= count:
        return list(items)
    step = (len(items) - 1) / (count - 1)
    return [items[round(i * step)] for i in range(count)]


def flush_plan(objects: Sequence, flushes: int) -> list[tuple]:
    """``(object, new pages)`` for each flush of dirty_in_large_map, spread over the map."""
    return [(objects[(i * 7919) % len(objects)], 5000 + i) for i in range(flushes)]
