"""Where the sensors' work runs: a local process pool (the default) or Ray. Both call
task.run_series on each SeriesTask and hand each SeriesResult to `on_result` as it finishes, in
whatever order they finish. Neither schedules anything itself beyond keeping the workers busy.

Worker death: a worker killed (kill -9, the OOM killer) or crashed outside the task's own error
handling fails the sensor it was on after a second try (`ATTEMPTS`); the other sensors go on.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Callable, Sequence

from edge_forecast.errors import UserError
from edge_forecast.fleet.task import ONE_THREAD_ENV, SeriesResult, SeriesTask, failed_result, run_series
from edge_forecast.quiet import fd2_captured

ATTEMPTS = 2  # a sensor whose worker dies is tried once more (the death may have been the other's doing)
RAY_INSTALL = 'pip install "edge-forecast[fleet]" (or: pip install "ray>=2.9,<3")'
OnResult = Callable[[SeriesResult], None]


def default_jobs() -> int:
    """The cores this process may use (a container's or taskset's limit, not the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


# --- local process pool -------------------------------------------------------------------------


def _init_worker(env: dict[str, str], parent: int) -> None:
    """A pool worker's start: one thread for TensorFlow (before it loads), and death with the
    fleet command (Linux): a worker left running after `kill -9` of the command would go on
    writing into OUT while a rerun does the same sensor."""
    os.environ.update(env)
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):  # no prctl in this libc: the worker outlives it
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl: no one to work for
            os._exit(1)


def run_pool(tasks: Sequence[SeriesTask], jobs: int, on_result: OnResult) -> None:
    """Run the tasks in `jobs` worker processes (spawned: a fork of a process that has loaded
    TensorFlow is not safe). At most `jobs` tasks are handed out at a time, so that when a worker
    dies (the pool then breaks, ending every worker) the tasks in flight are the ones that were
    running; each is tried again alone, so that a second death names the sensor that causes it."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_context

    queue = list(tasks)
    tries = {t.slug: 0 for t in tasks}
    env = {**ONE_THREAD_ENV, **_python_path()}
    while queue:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"), initializer=_init_worker,
                                 initargs=(env, os.getpid())) as pool:
            running: dict = {}
            started: dict[str, float] = {}
            broken = False
            while (queue and not broken) or running:
                # a retry runs alone: nothing else is handed out beside it, nor it beside others
                while queue and not broken and len(running) < jobs and not (running and tries[queue[0].slug]):
                    task = queue.pop(0)
                    tries[task.slug] += 1
                    started[task.slug] = time.perf_counter()
                    running[pool.submit(run_series, task)] = task
                    if tries[task.slug] > 1:
                        break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    task = running.pop(future)
                    seconds = time.perf_counter() - started[task.slug]
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        broken = True
                        if tries[task.slug] >= ATTEMPTS:
                            on_result(failed_result(task, f"the worker process died {ATTEMPTS} times on this "
                                                          "series (killed, out of memory or crashed)", seconds))
                        else:
                            queue.insert(0, task)
                        continue
                    except Exception as exc:  # the result could not come back (pickling)
                        result = failed_result(task, f"{type(exc).__name__}: {exc}", seconds)
                    on_result(result)


def _python_path() -> dict[str, str]:
    """The parent's PYTHONPATH for workers that must import this same edge_forecast (a checkout
    run with PYTHONPATH=src); spawned processes inherit the environment anyway, Ray's may not."""
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": path} if path else {}


# --- Ray ------------------------------------------------------------------------------------------


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(f"ray: --ray needs Ray, which is not installed: {RAY_INSTALL}", "ray") from None
    return ray


def connect_ray(address: str, jobs: int | None) -> str:
    """Start a local Ray instance (`address` "auto", with `jobs` CPUs) or join the cluster at
    `address` (ray://HOST:PORT or HOST:PORT), whose nodes must see OUT at the same path (a shared
    file system). Returns a line naming it; a failure is one line, before any work is done."""
    ray = import_ray()
    local = address == "auto"
    if not local:
        _check_reachable(address)
    runtime_env = {"env_vars": {**ONE_THREAD_ENV, **_python_path()}}
    init = dict(runtime_env=runtime_env, log_to_driver=False, include_dashboard=False, configure_logging=False)
    logged: list[bytes] = []
    try:
        # only while joining a cluster: the daemons a local start spawns would inherit fd 2 and
        # write to the captured file after it is gone
        with contextlib.nullcontext() if local else _ray_log_captured(logged):
            if local:
                # address "local": always a new instance (Ray's own "auto" would join one already running)
                ray.init(address="local", num_cpus=jobs or default_jobs(), **init)
            else:
                ray.init(address=address, **init)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        what = "start a local Ray instance" if local else f"join the Ray cluster at {address}"
        raise UserError(f"ray: cannot {what}: {' '.join(str(exc).split())[:300]}{_auth_hint(logged)}", "ray") from None
    cpus = int(ray.cluster_resources().get("CPU", 0))
    return f"a local Ray instance ({cpus} CPUs)" if local else f"the Ray cluster {address} ({cpus} CPUs)"


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """A cluster address where nothing listens: ray.init would wait on it for well over ten
    minutes (Ray 2.60, `--ray 127.0.0.1:9`), so the port is tried first."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # not HOST:PORT: Ray's own error names the form
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserError(f"ray: cannot join the Ray cluster at {address}: nothing answers there ({reason}); give the "
                        "address `ray start --head` printed (HOST:PORT of its GCS, ray://HOST:PORT of its client "
                        "server)", "ray") from None


def disconnect_ray() -> None:
    """Stop the local instance, or leave the cluster (which goes on running)."""
    import_ray().shutdown()


def run_ray(tasks: Sequence[SeriesTask], on_result: OnResult) -> None:
    """Run the tasks as Ray tasks of one CPU each on the instance or cluster `connect_ray` joined."""
    ray = import_ray()
    from ray.exceptions import RayError

    # max_retries: Ray itself runs a task again once when its worker dies, as the pool does
    remote = ray.remote(num_cpus=1, max_retries=ATTEMPTS - 1)(run_series)
    pending = {remote.remote(task): (task, time.perf_counter()) for task in tasks}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            task, started = pending.pop(ref)
            try:
                on_result(ray.get(ref))
            except RayError as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                on_result(failed_result(task, f"{type(exc).__name__}: {reason}", time.perf_counter() - started))


# Ray's core (C++) logs straight to fd 2: "[2026-12-07 22:46:39,353 W 22290 22290] gcs_client.cc:210: ..."
_RAY_LOG = re.compile(rb"^\[\d{4}-\d\d-\d\d [\d:,.]+ [DIWEF] \d+ \d+\] ")
_AUTH_REFUSED = (b"InvalidAuthToken", b"Unauthenticated")


@contextlib.contextmanager
def _ray_log_captured(logged: list[bytes]):
    """While connecting, Ray's core writes a warning per second of retrying to fd 2 (an
    unreachable address or a refused token: 20 lines before ray.init gives up): they are kept in
    `logged` for the error to draw on, and every other line is passed on afterwards."""
    lines: list[bytes] = []
    try:
        with fd2_captured(lines):
            yield
    finally:
        logged.extend(line for line in lines if _RAY_LOG.match(line))
        other = [line for line in lines if not _RAY_LOG.match(line)]
        if other:
            os.write(2, b"".join(other))


def _auth_hint(logged: list[bytes]) -> str:
    """Ray 2.5x clusters use token authentication by default (`ray start` turns it on when
    ~/.ray/auth_token exists), and a process given an explicit address does not send a token
    unless told to, so that a token never goes to an address by accident: say how to tell it."""
    if not any(marker in line for line in logged for marker in _AUTH_REFUSED):
        return ""
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "token":
        return ("; the cluster refused this process's token: set the cluster's token in RAY_AUTH_TOKEN "
                "(or ~/.ray/auth_token)")
    return ("; the cluster asks for a token (Ray's token authentication): set RAY_AUTH_MODE=token, with the "
            "cluster's token in RAY_AUTH_TOKEN or ~/.ray/auth_token")
