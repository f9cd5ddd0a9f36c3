"""Where job work runs: the runner's thread, or the long-lived worker process and its
protocol (a worker kept between jobs, progress, cancel, typed errors, chatter, crashes)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from studio.core.errors import JobError, ModelMissingError
from studio.core.jobs import CancelToken
from studio.jobs.executors import ThreadExecutor, Work, WorkerProcessExecutor
from studio.jobs.kinds import import_kind
from studio.jobs.runner import JobRunner, executor_name
from tests.jobs import worker_kinds as wk
from tests.jobs.worker_kinds import CountSpec, FailSpec, HoldSpec


@pytest.fixture
def events():
    return []


@pytest.fixture
def runner(project, events):
    runner = JobRunner(project, events.append)
    yield runner
    runner.shutdown()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _work(job_id: str, spec) -> Work:
    return Work(job_id, import_kind(spec.kind), spec, tuple(spec.names))


def test_each_kind_says_where_it_runs():
    assert executor_name(import_kind("thumbnails")) == "thread"
    assert executor_name(import_kind("thumbnails"), force_worker=True) == "worker"
    assert executor_name(import_kind(CountSpec.kind)) == "worker"


def test_the_worker_stays_between_jobs_keeps_what_a_kind_loaded_and_ends_on_shutdown(
    project, tmp_path
):
    marker = tmp_path / "released"
    runner = JobRunner(project)
    try:
        first = runner.run(CountSpec(title="Two", names=("a", "b"), marker=str(marker)))
        second = runner.run(CountSpec(title="One", names=("c",), marker=str(marker)))
        assert (first.state, second.state) == ("done", "done")
        assert first.message == "2 units" and second.done == 1
        committed = wk.results(first.id) + wk.results(second.id)
        assert [unit for unit, _ in committed] == ["a", "b", "c"]
        pids = {r["pid"] for _, r in committed}
        assert len(pids) == 1 and os.getpid() not in pids
        assert [r["loads"] for _, r in committed] == [1, 1, 1]  # loaded once, kept
        assert [r["data"] for _, r in committed] == [b"a\0\xff", b"b\0\xff", b"c\0\xff"]
        assert not marker.exists()
    finally:
        runner.shutdown()
    assert marker.read_text() == "released after 1 load"
    assert _gone(pids.pop())


def test_progress_inside_a_unit_crosses_the_process(runner, events):
    job = runner.run(CountSpec(title="Steps", names=("a", "b"), steps=3))
    assert job.state == "done"
    progress = [e.progress for e in events if e.event == "progress"]
    assert [p.message for p in progress] == [
        "a: step 1 of 3", "a: step 2 of 3", "a: step 3 of 3", "1 of 2",
        "b: step 1 of 3", "b: step 2 of 3", "b: step 3 of 3", "2 of 2",
    ]  # fmt: skip
    assert [(p.done, p.total, p.eta_s) for p in progress[:3]] == [
        (1, 3, 2.0),
        (2, 3, 1.0),
        (3, 3, 0.0),
    ]


def test_a_cancel_reaches_the_work_inside_its_unit(runner, events):
    seen: dict[str, float] = {}

    def cancel_when_held(event):
        if event.event != "progress":
            return
        if event.progress.message.startswith("holding b"):
            seen["pid"] = int(event.progress.message.split()[-1])
            seen["asked"] = time.monotonic()
            runner.cancel(event.job_id)
        elif event.progress.message == "saw the cancel":
            seen["seen"] = time.monotonic()

    runner.add_listener(cancel_when_held)
    job = runner.submit(HoldSpec(title="Hold", names=("a", "b", "c"), hold="b"))
    stopped = runner.wait(job.id, timeout=60)
    assert stopped.state == "cancelled" and stopped.done == 1
    assert [unit for unit, _ in wk.results(job.id)] == ["a"]
    assert seen["seen"] - seen["asked"] < 1.0  # the work saw it, nobody was killed
    again = runner.run(CountSpec(title="After", names=("x",)))
    assert wk.results(again.id)[0][1]["pid"] == seen["pid"]  # the same worker goes on


def test_a_typed_error_keeps_its_class_message_and_hint(project):
    executor = WorkerProcessExecutor(project.path)
    try:
        results = executor.run(_work("job-1", FailSpec(names=("a", "b"))), print, CancelToken())
        unit, first = next(results)
        assert unit == "a" and first["pid"] == executor.pid
        with pytest.raises(ModelMissingError) as caught:
            next(results)
    finally:
        executor.close()
    assert type(caught.value) is ModelMissingError
    assert (caught.value.message, caught.value.hint) == (wk.MISSING, wk.MISSING_HINT)


def test_errors_fail_the_job_and_the_worker_goes_on(runner):
    typed = runner.run(FailSpec(title="Typed", names=("a", "b")))
    assert typed.state == "failed" and typed.done == 1
    assert typed.message == wk.MISSING and typed.error == f"{wk.MISSING} {wk.MISSING_HINT}"
    fault = runner.run(FailSpec(title="Fault", names=("a", "b"), error="os"))
    assert fault.state == "failed" and fault.message == "Unexpected error: OSError: disk full"
    pids = {r["pid"] for job in (typed, fault) for _, r in wk.results(job.id)}
    assert len(pids) == 1


def test_a_chatty_kind_neither_blocks_nor_corrupts_the_protocol(runner):
    job = runner.submit(CountSpec(title="Chatty", names=("a", "b", "c"), chatter_mb=10))
    done = runner.wait(job.id, timeout=120)
    assert done.state == "done" and done.done == 3
    assert [(u, r["data"]) for u, r in wk.results(job.id)] == [
        ("a", b"a\0\xff"), ("b", b"b\0\xff"), ("c", b"c\0\xff"),
    ]  # fmt: skip


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL")
def test_a_worker_killed_mid_job_fails_the_job_and_the_next_starts_fresh(runner):
    killed: list[int] = []

    def kill_when_held(event):
        if event.event == "progress" and event.progress.message.startswith("holding"):
            killed.append(int(event.progress.message.split()[-1]))
            os.kill(killed[-1], signal.SIGKILL)

    runner.add_listener(kill_when_held)
    job = runner.run(HoldSpec(title="Hold", names=("a", "b"), hold="b"))
    assert job.state == "failed" and job.done == 1
    assert "The worker process stopped unexpectedly during this job" in job.message
    assert "killed by SIGKILL" in job.message
    assert job.message.endswith("Its last output: holding b")  # its stderr's last words
    assert "Resume the job" in job.error
    again = runner.run(CountSpec(title="After", names=("x",)))
    assert again.state == "done" and wk.results(again.id)[0][1]["pid"] not in killed


def test_an_idle_worker_releases_what_it_loaded_and_exits(project, tmp_path):
    marker = tmp_path / "released"
    executor = WorkerProcessExecutor(project.path, idle_timeout=0.3)
    spec = CountSpec(names=("a",), marker=str(marker))
    try:
        first = dict(executor.run(_work("job-1", spec), print, CancelToken()))
        deadline = time.monotonic() + 30
        while executor.pid is not None and time.monotonic() < deadline:
            time.sleep(0.02)  # waiting for its idle time to run out
        assert executor.pid is None and _gone(first["a"]["pid"])
        assert marker.read_text() == "released after 1 load"
        second = dict(executor.run(_work("job-2", spec), print, CancelToken()))
        assert second["a"]["pid"] != first["a"]["pid"] and second["a"]["loads"] == 1
    finally:
        executor.close()


def test_the_thread_executor_runs_the_work_here(project):
    spec = CountSpec(names=("a",))
    results = dict(ThreadExecutor(project).run(_work("job-1", spec), print, CancelToken()))
    assert results["a"]["pid"] == os.getpid() and results["a"]["data"] == b"a\0\xff"


def test_a_kind_is_imported_only_from_the_studio_and_its_tests():
    with pytest.raises(JobError, match="outside the studio's packages"):
        import_kind("test-elsewhere", "os.path")
    with pytest.raises(JobError, match="Unknown kind of job 'test-nowhere'"):
        import_kind("test-nowhere", "tests.jobs.worker_kinds")


def test_a_cancel_that_crossed_a_finished_run_does_not_cancel_its_resume():
    from studio.jobs.worker import _Control

    control = _Control()
    control.begin("job-1")
    control.end()
    control.cancel("job-1")  # sent while the run's last units were on their way
    assert not control.begin("job-1").cancelled
    control.end()
    control.cancel("job-2")  # a cancel read before its job began still counts
    assert control.begin("job-2").cancelled
