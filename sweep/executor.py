"""Executors for sweep points: ``concurrent.futures`` local processes or a Dask cluster.

:func:`open_executor` is a context manager yielding a :class:`concurrent.futures.Executor`:

- ``local``: a :class:`~concurrent.futures.ProcessPoolExecutor` with ``jobs`` workers;
- ``dask``: ``dask.distributed.Client(scheduler).get_executor()`` -- the points run on the
  cluster's workers (which must have ivita installed). dask is an optional extra
  (``pip install -e ".[dask]"``); without it :class:`ExecutorUnavailable` says so.

The points' results come back to the caller's process, which is the only database writer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

__all__ = ["EXECUTORS", "ExecutorUnavailable", "open_executor"]

EXECUTORS = ("local", "dask")


class ExecutorUnavailable(RuntimeError):
    """The executor cannot be used here (dask not installed, scheduler unreachable)."""


@contextlib.contextmanager
def open_executor(kind: str = "local", *, jobs: int = 2,
                  scheduler: str | None = None, connect_timeout: float = 20
                  ) -> Iterator[Executor]:
    """Yield an executor of ``kind``; shut it down (and close the Dask client) afterwards.
    ``connect_timeout``: seconds to reach the Dask scheduler."""
    if kind == "local":
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise ValueError(f"jobs={jobs!r} must be a positive integer")
        with ProcessPoolExecutor(max_workers=jobs) as ex:
            try:
                yield ex
            except BaseException:
                ex.shutdown(wait=False, cancel_futures=True)
                raise
        return
    if kind != "dask":
        raise ValueError(f"executor {kind!r} is not one of {', '.join(EXECUTORS)}")
    if not scheduler:
        raise ValueError("--executor dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
    try:
        from dask.distributed import Client
    except ImportError:
        raise ExecutorUnavailable(
            "--executor dask needs dask.distributed, which is not installed; install the "
            "extra: pip install -e \".[dask]\"") from None
    try:
        client: Any = Client(scheduler, timeout=f"{connect_timeout}s")
    except (OSError, TimeoutError) as e:
        raise ExecutorUnavailable(f"--scheduler {scheduler}: cannot connect: {e}") from None
    try:
        yield client.get_executor()
    finally:
        client.close()
