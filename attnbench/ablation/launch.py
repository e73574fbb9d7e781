"""``--launcher slurm``: every pending run of a sweep is a submitit job; the driver appends each row as its job ends.

The job is ``run._job`` (one run in a fresh process: it loads the task, builds, trains and evaluates, and returns
the record with its test predictions as numpy arrays); submitit pickles it with the spec into ``job_folder``. The
driver (this process) keeps the only CSV writer: rows and prediction files are written here, in the order jobs
finish, so ``--resume`` works across launches and launchers (the launcher is not part of the resume key). A job
that raises, or that the cluster kills, becomes a ``failed`` row with the reason, and the sweep goes on.

``submitit_cluster="local"`` runs the jobs as processes of this machine through the same pickling and job path
(what the tests use); at most ``LOCAL_PARALLEL`` at a time there.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UsageError, opt
from .records import AblationRecord
from .spec import AblationSpec

LOCAL_PARALLEL = 2
"""Jobs running at once with ``--submitit-cluster local`` (Slurm itself schedules the rest)."""

POLL_SECONDS = 0.5


def _executor(spec: AblationSpec) -> Any:
    try:
        import submitit
    except ImportError:
        raise UsageError(
            f"{opt('launcher')} slurm needs submitit; install it with pip install 'attnbench[slurm]'."
        ) from None
    assert spec.csv is not None
    folder = spec.job_folder or spec.csv.parent / f"{spec.csv.stem}-jobs"
    executor = submitit.AutoExecutor(folder=Path(folder) / "%j", cluster=spec.submitit_cluster)
    params: dict[str, Any] = {
        "timeout_min": spec.slurm_minutes,
        "cpus_per_task": spec.threads or 1,
        "nodes": 1,
        "tasks_per_node": 1,
        "name": "attnbench-ablate",
    }
    if spec.device.startswith("cuda"):
        params["gpus_per_node"] = 1
    if spec.slurm_partition:
        params["slurm_partition"] = spec.slurm_partition
    executor.update_parameters(**params)
    return executor


def run_jobs(
    spec: AblationSpec,
    items: list[tuple[int, int, str, str, AblationRecord]],
    job: Callable[..., tuple[AblationRecord, Any, Any]],
    started: Callable[[int], None],
    finish: Callable[[int, AblationRecord, Any, Any], None],
) -> None:
    """Submit ``items`` (``(index, seed, task, module, template)``) as jobs of ``job(spec, task, module, seed,
    template)``; call ``started(index)`` as each is submitted and ``finish`` as each one ends."""
    if not items:
        return
    executor = _executor(spec)
    limit = LOCAL_PARALLEL if spec.submitit_cluster == "local" else len(items)
    waiting = list(items)
    running: list[tuple[tuple[int, int, str, str, AblationRecord], Any]] = []
    try:
        while waiting or running:
            while waiting and len(running) < limit:
                item = waiting.pop(0)
                index, seed, task, name, template = item
                running.append((item, executor.submit(job, spec, task, name, seed, template)))
                started(index)
            still = []
            for item, job_ in running:
                if not job_.done():
                    still.append((item, job_))
                    continue
                index, seed, task, name, template = item
                try:
                    record, preds, labels = job_.result()
                except Exception as exc:  # a job's failure is that run's failure, not the sweep's
                    reason = job_failure(exc)
                    record = dataclasses.replace(template, status="failed", error=f"job {job_.job_id}: {reason}")
                    preds = labels = None
                finish(index, record, preds, labels)
            running = still
            if running:
                time.sleep(POLL_SECONDS)
    finally:
        for _, job_ in running:  # interrupted: do not leave jobs behind
            try:
                job_.cancel(check=False)
            except Exception:
                pass


def job_failure(exc: BaseException) -> str:
    """One line for a failed job: the job's own exception line (submitit wraps it in a banner, a traceback and the
    log paths), else the wrapper's text; at most 300 characters."""
    import re

    lines = [line.strip() for line in str(exc).splitlines()]
    raised = [line for line in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt)\b.*", line)]
    text = raised[-1] if raised else " ".join(str(exc).split())
    return text[:300] or type(exc).__name__
