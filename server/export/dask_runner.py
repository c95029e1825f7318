"""Run the cohort table and the research export on Dask (``pip install 'sintonia[scale]'``).

:func:`dask_runner` connects to an existing cluster (``tcp://HOST:PORT`` of its scheduler) or
starts a local one (:class:`distributed.LocalCluster`: worker processes, one thread each by
default, no dashboard), and yields a :class:`DaskRunner`, the
:class:`~server.export.runner.SessionRunner` that submits one task per session. Each task gets
the database URL and opens its own store on its worker (:func:`server.export.runner.worker_store`),
so every worker must reach the database (a SQLite file on a shared disk, or PostgreSQL) and have
sintonia installed. The URL, password included, travels to the workers over Dask's connections:
use a cluster on a network you trust (or TLS, configured in Dask).

dask is imported here, and this module only when a scheduler or workers are asked for.

References
----------
.. [1] Rocklin M (2015). Dask: parallel computation with blocked algorithms and task scheduling.
   Proceedings of the 14th Python in Science Conference, 130-136.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final, TypeVar

from server.export.errors import ExportError

__all__ = [
    "AHEAD_PER_WORKER",
    "CONNECT_TIMEOUT_S",
    "DaskRunner",
    "DaskUnavailableError",
    "SchedulerError",
    "dask_runner",
]

#: Tasks submitted ahead of the one being read, per worker.
AHEAD_PER_WORKER: Final[int] = 4
#: How long to wait for a scheduler to answer, s.
CONNECT_TIMEOUT_S: Final[float] = 10.0

J = TypeVar("J")
R = TypeVar("R")


class SchedulerError(ExportError):
    """The Dask scheduler could not be reached (or its address is not one)."""


class DaskUnavailableError(ExportError):
    """dask[distributed] is not installed."""


class DaskRunner:
    """Submits one task per job to a Dask client; results in job order.

    Parameters
    ----------
    client : distributed.Client
    timeout_s : float, optional
        Longest wait for one result, s (default none).
    """

    def __init__(self, client: Any, timeout_s: float | None = None) -> None:
        self.client = client
        self.timeout_s = timeout_s

    @property
    def workers(self) -> int:
        """Workers the scheduler knows now."""
        return len(self.client.scheduler_info(n_workers=-1).get("workers", {}))

    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[R]:
        """Yield ``fn(job)`` for every job in job order, keeping at most
        :data:`AHEAD_PER_WORKER` tasks per worker submitted and unread (a research export's
        tables wait on the workers only that far ahead of the files being written)."""
        ahead = max(2, AHEAD_PER_WORKER * max(self.workers, 1))
        queue: deque[Any] = deque()
        todo = iter(jobs)
        try:
            for job in itertools.islice(todo, ahead):
                queue.append(self.client.submit(fn, job, pure=False))
            while queue:
                f = queue.popleft()
                result: R = f.result(timeout=self.timeout_s)
                f.release()
                for job in itertools.islice(todo, 1):
                    queue.append(self.client.submit(fn, job, pure=False))
                yield result
        finally:
            for f in queue:
                f.cancel()


@contextmanager
def dask_runner(
    scheduler: str | None = None,
    workers: int | None = None,
    *,
    threads_per_worker: int = 1,
    processes: bool = True,
    timeout_s: float = CONNECT_TIMEOUT_S,
    log_level: int | None = None,
) -> Iterator[DaskRunner]:
    """A :class:`DaskRunner` on the scheduler at ``scheduler``, or on a local cluster of
    ``workers`` workers (closed on exit).

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler, e.g. ``tcp://10.0.0.5:8786``.
    workers : int, optional
        Workers of a local cluster (when ``scheduler`` is None).
    threads_per_worker : int
        Threads per local worker (default 1: the work is numpy and Python, GIL-bound).
    processes : bool
        Local workers as processes (default) or as threads of this process.
    timeout_s : float
        How long to wait for the scheduler.
    log_level : int, optional
        Level of the ``distributed`` loggers (Dask's own configuration logs every connection
        at INFO).

    Raises
    ------
    DaskUnavailableError
        dask[distributed] is not installed.
    SchedulerError
        The scheduler's address is not one, or it did not answer within ``timeout_s``.
    ExportError
        Neither or both of ``scheduler`` and ``workers``, or ``workers < 1``.
    """
    if (scheduler is None) == (workers is None):
        raise ExportError("give either a scheduler address or a number of workers")
    if workers is not None and (workers < 1 or threads_per_worker < 1):
        raise ExportError(
            f"workers and threads per worker must be >= 1, got {workers} and {threads_per_worker}"
        )
    if scheduler is not None and not scheduler.startswith(
        ("tcp://", "tls://", "inproc://", "ws://", "wss://")
    ):
        raise SchedulerError(
            f"expected a Dask scheduler address like tcp://HOST:PORT, got {scheduler!r}"
        )
    try:
        import distributed
    except ImportError as exc:
        raise DaskUnavailableError(
            f"Dask is not installed ({exc}); install the extra: pip install 'sintonia[scale]'"
        ) from exc
    if log_level is not None:
        logging.getLogger("distributed").setLevel(log_level)
    cluster: Any = None
    dd: Any = distributed  # untyped calls
    if scheduler is not None:
        try:
            client = dd.Client(scheduler, timeout=timeout_s, set_as_default=False)
        except (OSError, ValueError, TimeoutError) as exc:
            raise SchedulerError(
                f"could not reach the Dask scheduler at {scheduler} within {timeout_s:g} s ({exc})"
            ) from exc
    else:
        # processes talk TCP on loopback; the scheduler's HTTP server (no dashboard) takes a free
        # loopback port instead of 8787 (which another cluster may hold)
        where: dict[str, Any] = (
            {"host": "127.0.0.1", "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"}}
            if processes
            else {}
        )
        cluster = dd.LocalCluster(
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=processes,
            dashboard_address=None,
            silence_logs=logging.ERROR,
            **where,
        )
        client = dd.Client(cluster, set_as_default=False)
    try:
        yield DaskRunner(client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
