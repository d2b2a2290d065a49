"""Where tasks run: one process, threads, local worker processes (loky), a dask cluster, or ray.

Every backend is a :class:`Pool`: the driver submits tasks, and receives each task's outcome on its own, as it
completes: the task's result, :class:`WorkerLost` when the process running it died (killed, out of memory), or
the exception the task raised. So a dying worker costs only its tasks, which the driver retries in smaller
pieces, never the run. Workers read inputs and write outputs themselves (dask and ray need a filesystem shared
by the driver and the workers); only records travel back.

Local worker processes ignore Ctrl-C (the driver handles it and stops them), and exit on their own within a
second when their parent dies, so a killed run leaves no workers behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..errors import UsageError

BACKENDS = ("loky", "threading", "dask", "ray")
#: A run with at most this many inputs (or shards) to make runs in the driver unless --jobs was given: the 9
#: samples augment faster so than with a pool of two workers (``benchmarks/bench_augment.py --only small``).
SMALL_RUN = 16
EXTRAS = {"dask": "pip install 'ipmix[dask]'", "ray": "pip install 'ipmix[ray]'"}


class BackendError(UsageError):
    """A backend that cannot be used; the message says what to install or fix."""


class WorkerLost(Exception):
    """The process running a task died before returning its result."""


@dataclass(frozen=True)
class BackendSpec:
    name: str = "loky"
    jobs: int = 1
    scheduler: str | None = None  # dask scheduler address
    ray_address: str | None = None
    explicit: bool = False  # --jobs was given: honour it (capped by the cores and the work), even for small runs

    @property
    def distributed(self) -> bool:
        return self.name in ("dask", "ray")


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread for the block: loky's manager thread, made at the first submit, inherits the
    mask and so does every worker it spawns (fork and exec keep it), so a Ctrl-C that reaches the whole process
    group cannot kill a worker mid-import with a traceback; the driver gets the signal when the block ends. A
    Ctrl-C that came just before (CPython runs the handler at its next check, which may fall inside the block)
    is held too: raised inside, it would leave a worker waiting for the data loky had not yet sent, and print
    loky's traceback. The resource trackers start first: Python 3.11's unblocks SIGINT in the thread that starts
    it."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    _start_resource_trackers()
    held: list[int] = []
    handler = signal.getsignal(signal.SIGINT)
    if handler is not None:  # None: a handler not installed from Python (an embedding host's), left alone
        signal.signal(signal.SIGINT, lambda number, frame: held.append(number))
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        if handler is not None:
            signal.signal(signal.SIGINT, handler)
    if held and callable(handler):
        handler(signal.SIGINT, None)
    elif held and handler == signal.SIG_DFL:
        raise KeyboardInterrupt


_TRACKERS_STARTED = False


def _start_resource_trackers() -> None:
    global _TRACKERS_STARTED
    if _TRACKERS_STARTED:
        return
    from multiprocessing import resource_tracker

    from joblib.externals.loky.backend import resource_tracker as loky_resource_tracker

    resource_tracker.ensure_running()
    loky_resource_tracker.ensure_running()
    _TRACKERS_STARTED = True


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)
        threading.Event().wait(0.5)


class _NoPandas:
    """An import finder that refuses pandas. pyarrow imports pandas (if installed) on its first ``pa.array``
    call just to ask whether values are pandas objects: 45 MB per worker that loads pyarrow (to read Parquet
    inputs), which never uses it (measured at 2 jobs when workers wrote Parquet with pyarrow: the tree's peak
    fell from 565 to 486 MB RSS)."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("pandas is not used in ipmix's worker processes", name=name)
        return None


def worker_started(parent: int | None = None) -> None:
    """In a local worker process (ours alone): leave Ctrl-C to the driver, exit when the driver is gone, keep
    pandas out (see :class:`_NoPandas`) and give pyarrow the system allocator."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # pyarrow's default pool (jemalloc) keeps freed buffers for reuse: the system allocator, which this process
    # already tunes, held 10 MB less a worker that wrote Parquet with pyarrow (measured at 2 jobs); workers load
    # pyarrow now only to read Parquet inputs
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    if "pandas" not in sys.modules and not any(isinstance(f, _NoPandas) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoPandas())
    if parent is not None:
        from ..disk.atomic import set_driver

        set_driver(parent)
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


class Pool:
    """Tasks in flight and their outcomes; see the module docstring."""

    capacity: int = 1

    def submit(self, function: Callable, *args) -> Any:
        raise NotImplementedError

    def next_done(self, timeout: float) -> tuple[Any, Any] | None:
        """(handle, result or WorkerLost or exception) of a finished task, or None after ``timeout`` seconds."""
        raise NotImplementedError

    @property
    def in_flight(self) -> int:
        raise NotImplementedError

    def warm(self, function: Callable, *args) -> None:
        """Start the workers now, each running ``function(*args)`` to get ready, while the driver still plans
        the run (nothing to do where workers are not started by the pool)."""

    def limit(self, work: int) -> None:
        """Start no more workers than ``work`` (inputs or shards to make) needs (before any is started)."""

    def limited(self, work: int, explicit: bool) -> Pool:
        """This pool for ``work`` tasks' worth of work: with no more workers than it needs, or, for a small run
        whose number of workers the user did not choose, the driver's own thread (starting worker processes
        costs more than such a run)."""
        if not explicit and work <= SMALL_RUN and isinstance(self, (LokyPool, ThreadPool)) and self.in_flight == 0:
            self.close(abort=True)
            return InlinePool()
        self.limit(work)
        return self

    _closed = False

    def close(self, abort: bool = False) -> None:
        """Release the workers; ``abort`` stops running tasks at once (interruptions). Only the first call acts
        (the driver releases the workers as soon as no task remains, and again on every way out): a dask
        client cannot cancel once closed, and loky asked again for its executor would start a new one."""
        if not self._closed:
            self._closed = True
            self._close(abort)

    def _close(self, abort: bool) -> None:
        """Release the workers (once; see :meth:`close`)."""


class InlinePool(Pool):
    """Tasks run in the driver's own thread as they are submitted (one job, threading backend)."""

    def __init__(self):
        self._done: list = []

    def submit(self, function, *args):
        handle = object()
        try:
            self._done.append((handle, function(*args)))
        except Exception as error:  # noqa: BLE001 - the driver decides what a failed task means
            self._done.append((handle, error))
        return handle

    def next_done(self, timeout):
        return self._done.pop(0) if self._done else None

    @property
    def in_flight(self):
        return len(self._done)


class _FuturesPool(Pool):
    """A pool over a ``concurrent.futures`` executor."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._futures: set[Future] = set()

    def _executor(self):
        raise NotImplementedError

    def _lost(self, error: BaseException) -> bool:
        return False

    def submit(self, function, *args):
        future = self._executor().submit(function, *args)
        self._futures.add(future)
        return future

    def next_done(self, timeout):
        if not self._futures:
            return None
        done, _ = wait_futures(self._futures, timeout=timeout, return_when=FIRST_COMPLETED)
        if not done:
            return None
        future = next(iter(done))
        self._futures.discard(future)
        error = future.exception()
        if error is None:
            return future, future.result()
        return future, WorkerLost(str(error)) if self._lost(error) else error

    @property
    def in_flight(self):
        return len(self._futures)


class ThreadPool(_FuturesPool):
    def __init__(self, jobs: int):
        super().__init__(2 * jobs)
        self.jobs = jobs
        self._pool = None

    def _executor(self):
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.jobs)
        return self._pool

    def limit(self, work: int) -> None:
        if self._pool is None:
            self.jobs = max(1, min(self.jobs, work))
            self.capacity = 2 * self.jobs

    def _close(self, abort):
        if self._pool is not None:
            self._pool.shutdown(wait=not abort, cancel_futures=abort)


def _out_of_files(error: BaseException) -> OSError | None:
    """The "too many open files" error among ``error`` and the exceptions it was raised from, if any."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in (errno.EMFILE, errno.ENFILE):
            return error
        error = error.__cause__ or error.__context__
    return None


class LokyPool(_FuturesPool):
    """Local worker processes (joblib's loky), made again after a worker died and broke the executor."""

    def __init__(self, jobs: int):
        super().__init__(jobs + 1)
        self.jobs = jobs

    _made = None

    def limit(self, work: int) -> None:
        if self._made is None:
            self.jobs = max(1, min(self.jobs, work))
            self.capacity = self.jobs + 1

    def _executor(self):
        from joblib.externals.loky import get_reusable_executor

        with self._spawning():
            self._made = get_reusable_executor(
                max_workers=self.jobs, timeout=30, initializer=worker_started, initargs=(os.getpid(),)
            )
        return self._made

    @contextlib.contextmanager
    def _spawning(self):
        """Where loky makes its pipes, semaphores and processes: running out of file descriptors (ulimit -n)
        is a :class:`BackendError` that says so, whatever loky raises after it (its error handling can itself
        fail on the half-made pipes)."""
        try:
            yield
        except Exception as error:
            cause = _out_of_files(error)
            if cause is None:
                raise
            raise BackendError(
                f"cannot start {self.jobs} worker processes ({cause.strerror or cause}); raise the limit of open "
                "files (ulimit -n) or pass a smaller --jobs"
            ) from None

    def submit(self, function, *args):
        with sigint_blocked(), self._spawning():
            return super().submit(function, *args)

    def warm(self, function, *args):
        with sigint_blocked(), self._spawning():
            executor = self._executor()
            for _ in range(self.jobs):  # not tracked: its outcome is nobody's result
                executor.submit(function, *args)

    def _lost(self, error):
        from concurrent.futures.process import BrokenProcessPool

        return isinstance(error, BrokenProcessPool)

    def _close(self, abort):
        """On ``abort``, cancel the tasks not started and release the executor this pool made once the running
        ones (a fraction of a second each) have finished, so that their outputs are recorded. (Killing the
        workers while tasks are queued races inside loky's manager thread.)"""
        if abort and self._made is not None:
            for future in self._futures:
                future.cancel()
            try:
                self._made.shutdown(wait=True)
            except RuntimeError:
                # Ctrl-C while loky was starting its manager thread (during the warm-up) interrupted ``start``
                # before the thread said it had started, and ``join`` refuses such a thread: wait for it, then
                # shut down again; never let this hide the interruption behind a traceback
                thread = getattr(self._made, "_executor_manager_thread", None)
                started = getattr(thread, "_started", None)
                if started is not None:
                    started.wait(10)
                try:
                    self._made.shutdown(wait=True)
                except RuntimeError:
                    self._made.shutdown(wait=False, kill_workers=True)


class DaskPool(Pool):
    def __init__(self, spec: BackendSpec):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise BackendError(f"--backend dask needs dask.distributed: {EXTRAS['dask']}") from None
        address = spec.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
        self._cluster = None
        if address:
            try:
                self._client = Client(address, timeout="20s")
            except (OSError, TimeoutError) as error:
                raise BackendError(f"cannot reach the dask scheduler at {address}: {error}") from None
        else:
            self._cluster = LocalCluster(
                n_workers=spec.jobs, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
            )
            self._client = Client(self._cluster)
        workers = max(1, len(self._client.scheduler_info().get("workers", {})) or spec.jobs)
        self.capacity = 2 * workers
        self._pending: set = set()

    def submit(self, function, *args):
        future = self._client.submit(function, *args, pure=False)
        self._pending.add(future)
        return future

    def next_done(self, timeout):
        from distributed import KilledWorker, wait

        if not self._pending:
            return None
        try:
            done, _ = wait(list(self._pending), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return None
        future = next(iter(done))
        self._pending.discard(future)
        if future.status == "error":
            error = future.exception()
            return future, WorkerLost(str(error)) if isinstance(error, KilledWorker) else error
        if future.status == "cancelled":
            return future, WorkerLost("the task was cancelled by the cluster")
        return future, future.result()

    @property
    def in_flight(self):
        return len(self._pending)

    def _close(self, abort):
        if abort:
            self._client.cancel(list(self._pending), force=True)
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def _call(function, args):
    return function(*args)


class RayPool(Pool):
    def __init__(self, spec: BackendSpec):
        try:
            import ray
        except ImportError:
            raise BackendError(f"--backend ray needs ray: {EXTRAS['ray']}") from None
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            try:
                if spec.ray_address:
                    ray.init(address=spec.ray_address, log_to_driver=False, logging_level="ERROR")
                else:
                    ray.init(num_cpus=spec.jobs, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
            except ConnectionError as error:
                raise BackendError(f"cannot reach the ray cluster at {spec.ray_address}: {error}") from None
        self._remote = ray.remote(num_cpus=1, max_retries=1)(_call)
        self.capacity = max(2, 2 * int(ray.cluster_resources().get("CPU", spec.jobs)))
        self._pending: list = []

    def submit(self, function, *args):
        reference = self._remote.remote(function, args)
        self._pending.append(reference)
        return reference

    def next_done(self, timeout):
        if not self._pending:
            return None
        done, self._pending = self._ray.wait(self._pending, num_returns=1, timeout=timeout)
        if not done:
            return None
        reference = done[0]
        from ray.exceptions import WorkerCrashedError

        try:
            return reference, self._ray.get(reference)
        except WorkerCrashedError as error:
            return reference, WorkerLost(str(error))
        except Exception as error:  # noqa: BLE001
            return reference, error

    @property
    def in_flight(self):
        return len(self._pending)

    def _close(self, abort):
        if abort:
            for reference in self._pending:
                self._ray.cancel(reference, force=True)
        if self._started:
            self._ray.shutdown()


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a SLURM allocation), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def local_workers(requested: int, work: int) -> int:
    """How many local workers a run starts: never more than asked, than there are cores (the work is
    CPU-bound: more processes only add start-up time and memory), or than there are tasks' worth of work."""
    return max(1, min(requested, usable_cores(), work))


def open_pool(spec: BackendSpec, work: int | None = None) -> Pool:
    """The pool for ``spec``, with local workers capped by :func:`local_workers` for ``work`` (the number of
    inputs, or units, to make); :class:`BackendError` (before OUT is touched) when it cannot start."""
    if spec.name not in BACKENDS:
        raise BackendError(f"unknown backend {spec.name!r}; use one of {', '.join(BACKENDS)}")
    if spec.name == "dask":
        return DaskPool(spec)
    if spec.name == "ray":
        return RayPool(spec)
    jobs = local_workers(spec.jobs, spec.jobs if work is None else work)
    if spec.name == "threading":
        return InlinePool() if jobs == 1 else ThreadPool(jobs)
    return LokyPool(jobs)  # even one: a worker process that dies (out of memory) costs its task, not the run
