"""One writer per project: a second writer is refused, readers are not, stale locks are taken."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import sys

import pytest

from studio import __version__
from studio.core.errors import NotAProjectError, ProjectLockedError
from studio.project.store import Project
from tests.project.helpers import add_persona, run_child, spawn

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")


def lock_file(project_path):
    return project_path.with_name(project_path.name + ".lock")


def test_lock_file_names_the_holder(project, project_path):
    info = json.loads(lock_file(project_path).read_text())
    assert info["pid"] == os.getpid()
    assert info["host"] == socket.gethostname()
    assert info["user"]
    assert info["started_at"].startswith("20")
    assert info["app_version"] == __version__


def test_a_second_process_cannot_write_while_the_project_is_open(project, project_path):
    add_persona(project, "Ada")
    result = run_child("holder_child.py", "try", project_path)
    assert result["ok"] is False
    assert result["error"] == "ProjectLockedError"
    assert result["holder"]["pid"] == os.getpid()
    assert f"process {os.getpid()} on {socket.gethostname()}" in result["message"]
    assert "open this project read-only" in result["message"]


def test_a_reader_can_open_while_the_project_is_held(project, project_path):
    add_persona(project, "Ada")
    result = run_child("holder_child.py", "try", project_path, "ro")
    assert result["ok"] is True
    assert result["counts"]["personas"] == 1
    # the writer is undisturbed
    add_persona(project, "Bo")
    assert project.counts()["personas"] == 2


def test_the_same_process_cannot_open_it_twice_for_writing(project, project_path):
    with pytest.raises(ProjectLockedError) as info:
        Project.open(project_path)
    assert info.value.holder["pid"] == os.getpid()
    with Project.open(project_path, read_only=True) as reader:
        assert reader.integrity() == "ok"


def test_a_held_lock_is_refused_with_the_child_named(project_path):
    Project.create(project_path).close()
    holder = spawn("holder_child.py", "hold", project_path)
    try:
        started = json.loads(holder.stdout.readline())
        with pytest.raises(ProjectLockedError) as info:
            Project.open(project_path)
        assert info.value.holder["pid"] == holder.pid == started["pid"]
        assert str(holder.pid) in str(info.value)
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    # a clean close leaves no lock behind
    assert holder.returncode == 0
    assert not lock_file(project_path).exists()
    with Project.open(project_path) as project:
        assert project.took_over_lock is None


@posix_only
def test_the_lock_of_a_killed_holder_is_taken_over(project_path):
    Project.create(project_path).close()
    holder = spawn("holder_child.py", "hold", project_path)
    json.loads(holder.stdout.readline())
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    holder.stdout.close()
    holder.stdin.close()
    holder.stderr.close()
    assert json.loads(lock_file(project_path).read_text())["pid"] == holder.pid  # left behind

    with Project.open(project_path) as project:
        assert project.took_over_lock["pid"] == holder.pid
        assert project.took_over_lock["host"] == socket.gethostname()
        assert json.loads(lock_file(project_path).read_text())["pid"] == os.getpid()
        assert project.integrity() == "ok"


def test_a_stale_lock_file_with_no_os_lock_is_taken_over(project_path):
    Project.create(project_path).close()
    stale = {"pid": 999999, "host": "elsewhere", "user": "bo", "started_at": "2020-01-01"}
    lock_file(project_path).write_text(json.dumps(stale))
    with Project.open(project_path) as project:
        assert project.took_over_lock == stale
    lock_file(project_path).write_text("{not json")  # a holder killed mid-write
    with Project.open(project_path) as project:
        assert project.took_over_lock is None
        assert json.loads(lock_file(project_path).read_text())["pid"] == os.getpid()


def test_a_failed_open_releases_the_lock(project_path):
    conn = sqlite3.connect(project_path)
    conn.execute("create table notes (body text)")
    conn.commit()
    conn.close()
    with pytest.raises(NotAProjectError):
        Project.open(project_path)
    assert not lock_file(project_path).exists()
