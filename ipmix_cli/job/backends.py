"""Where the work runs: in process, on joblib's loky or threading backends, on a dask cluster, or on ray.

Every backend receives the same batches of inputs and returns the same manifest records; workers read
inputs and write outputs themselves, so dask and ray need a filesystem shared by the driver and the
workers. Tasks carry the mixing set's folder and fingerprint, not its pictures: each worker process loads
the set once and keeps it for every later task.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from joblib import Parallel, parallel_config

BACKENDS = ("loky", "threading", "dask", "ray")
EXTRAS = {"dask": "pip install 'ipmix[dask]'", "ray": "pip install 'ipmix[ray]'"}


class BackendError(ValueError):
    """A backend that cannot be used; the message says what to install or fix."""


@dataclass(frozen=True)
class BackendSpec:
    name: str = "loky"
    jobs: int = 1
    scheduler: str | None = None  # dask scheduler address
    ray_address: str | None = None

    @property
    def distributed(self) -> bool:
        return self.name in ("dask", "ray")

    def batch_size(self, inputs: int) -> int:
        """Inputs per task: a few tasks per worker locally; larger batches on a cluster, where each
        task costs a scheduler round trip."""
        workers = max(1, self.jobs)
        low, high = (16, 64) if self.distributed else (1, 16)
        return max(low, min(high, -(-inputs // (4 * workers)))) if inputs else 1


Runner = Callable[[Iterable], Iterator]


@contextmanager
def open_backend(spec: BackendSpec) -> Iterator[Runner]:
    """A function that runs joblib-delayed tasks and yields their results as they complete."""
    if spec.name not in BACKENDS:
        raise BackendError(f"unknown backend {spec.name!r}; use one of {', '.join(BACKENDS)}")
    if spec.name == "dask":
        with _dask(spec) as runner:
            yield runner
    elif spec.name == "ray":
        with _ray(spec) as runner:
            yield runner
    elif spec.jobs == 1:
        yield lambda tasks: (function(*args, **kwargs) for function, args, kwargs in tasks)
    else:
        yield lambda tasks: Parallel(
            n_jobs=spec.jobs, backend=spec.name, return_as="generator_unordered", pre_dispatch="2*n_jobs"
        )(tasks)


@contextmanager
def _dask(spec: BackendSpec) -> Iterator[Runner]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise BackendError(f"--backend dask needs dask.distributed: {EXTRAS['dask']}") from None
    address = spec.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    cluster = None
    if address:
        try:
            client = Client(address, timeout="20s")
        except (OSError, TimeoutError) as error:
            raise BackendError(f"cannot reach the dask scheduler at {address}: {error}") from None
    else:
        cluster = LocalCluster(
            n_workers=spec.jobs, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        )
        client = Client(cluster)
    try:
        with parallel_config(backend="dask", wait_for_workers_timeout=120):
            yield lambda tasks: Parallel(n_jobs=-1, return_as="generator_unordered", pre_dispatch="2*n_jobs")(tasks)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _call(function, args, kwargs):
    return function(*args, **kwargs)


@contextmanager
def _ray(spec: BackendSpec) -> Iterator[Runner]:
    """Ray tasks driven directly: joblib's ray backend cannot hand back results as they complete. At most
    two tasks per CPU are in flight, so the driver holds a bounded amount of work."""
    try:
        import ray
    except ImportError:
        raise BackendError(f"--backend ray needs ray: {EXTRAS['ray']}") from None
    started = not ray.is_initialized()
    if started:
        try:
            if spec.ray_address:
                ray.init(address=spec.ray_address, log_to_driver=False, logging_level="ERROR")
            else:
                ray.init(num_cpus=spec.jobs, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        except ConnectionError as error:
            raise BackendError(f"cannot reach the ray cluster at {spec.ray_address}: {error}") from None
    remote = ray.remote(num_cpus=1, max_retries=3)(_call)
    in_flight = max(2, 2 * int(ray.cluster_resources().get("CPU", spec.jobs)))

    def run(tasks: Iterable) -> Iterator:
        pending = []
        tasks = iter(tasks)
        for function, args, kwargs in tasks:
            pending.append(remote.remote(function, args, kwargs))
            if len(pending) >= in_flight:
                break
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            for function, args, kwargs in tasks:
                pending.append(remote.remote(function, args, kwargs))
                break
            yield ray.get(finished[0])

    try:
        yield run
    finally:
        if started:
            ray.shutdown()
