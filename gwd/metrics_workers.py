"""One ``/metrics`` scrape for all ``gwd --workers N`` processes.

The supervisor gives every worker the same private directory (``GWD_METRICS_DIR``)
and its index (``GWD_WORKER_INDEX``). Each worker writes its metric families to
``worker-<index>.json`` there once a second (written whole, then renamed into place,
so a reader never sees half a file); a scrape, whichever worker the kernel hands
it to, adds the worker's own families, as they are now, to the other workers'
latest files. Counters and histograms are summed; gauges too (calls in flight,
buffered rows, cache entries, tasks), except the ones that say a state
(:data:`MAX_GAUGES`), which take the highest value. Another worker's counts are
therefore at most a second old. A worker that restarts overwrites its own file,
so its counters start again from zero, which Prometheus reads as a counter reset.

Nothing of this runs in a single-process gwd: no file, no task, no cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from .metrics import Histogram, Metric

log = logging.getLogger("gwd")
DIR_ENV, INDEX_ENV = "GWD_METRICS_DIR", "GWD_WORKER_INDEX"
INTERVAL = 1.0
MAX_GAUGES = frozenset({"gw_deployment_cooling_down", "gw_build_info",
                        "litellm_deployment_state"})
Family = Metric | Histogram


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return "D" + format(value, "f")
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("D"):
        return Decimal(value[1:])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def dump(families: Iterable[Family]) -> bytes:
    out = []
    for f in families:
        kind = "histogram" if isinstance(f, Histogram) else f.kind
        extra = list(f.bounds) if isinstance(f, Histogram) else None
        out.append([f.name, kind, f.help, list(f.labels), extra,
                    [[list(k), _encode(v)] for k, v in f.values.items()]])
    return orjson.dumps(out)


def _add(a: Any, b: Any, highest: bool) -> Any:
    if isinstance(a, list):
        return [x + y for x, y in zip(a, b, strict=True)]
    return max(a, b) if highest else a + b


def merge(mine: Iterable[Family], others: Iterable[bytes]) -> list[Family]:
    """``mine`` plus every family in the other workers' dumps (new objects: ``mine``'s
    live counters are not changed)."""
    merged: dict[str, Family] = {}
    for f in mine:
        copy: Family = Histogram(f.name, f.help, f.labels, f.bounds) \
            if isinstance(f, Histogram) else Metric(f.name, f.help, f.labels, f.kind)
        copy.values = {k: (list(v) if isinstance(v, list) else v) for k, v in f.values.items()}
        merged[f.name] = copy
    for raw in others:
        try:
            entries = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # a file from an older gwd, or damaged: skip it
        for name, kind, help, labels, bounds, values in entries:
            family = merged.get(name)
            if family is None:
                family = merged[name] = Histogram(name, help, tuple(labels), tuple(bounds)) \
                    if kind == "histogram" else Metric(name, help, tuple(labels), kind)
            highest = name in MAX_GAUGES
            for key, value in values:
                key, value = tuple(key), _decode(value)
                old = family.values.get(key)
                family.values[key] = value if old is None else _add(old, value, highest)
    return list(merged.values())


class WorkerShare:
    """This worker's side: writes its file every second; reads the others' at a scrape."""

    def __init__(self, directory: str, index: str, collect: Callable[[], list[Family]]) -> None:
        self.dir = Path(directory)
        self.path = self.dir / f"worker-{index}.json"
        self.collect = collect
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_env(cls, collect: Callable[[], list[Family]]) -> WorkerShare | None:
        directory, index = os.environ.get(DIR_ENV), os.environ.get(INDEX_ENV)
        if not directory or not index or not index.isdigit():
            return None
        return cls(directory, index, collect)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="gwd-metrics")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.write()  # the final counts, for the workers still running

    async def _run(self) -> None:
        while True:
            self.write()
            await asyncio.sleep(INTERVAL)

    def write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_bytes(dump(self.collect()))
            tmp.replace(self.path)
        except OSError as exc:
            log.warning("metrics: cannot write %s (%s); a scrape may miss this worker",
                        self.path, exc.strerror)

    def others(self) -> list[bytes]:
        out = []
        for path in sorted(self.dir.glob("worker-*.json")):
            if path != self.path:
                with contextlib.suppress(OSError):
                    out.append(path.read_bytes())
        return out
