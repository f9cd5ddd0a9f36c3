"""Child for the job crash test: runs a slow thumbnail job, printing each committed unit."""

import sys
import time

from studio.engine import images
from studio.jobs.runner import JobRunner
from studio.services import library
from studio.services.projects import open_project

real = images.thumbnail


def slow(data, size):
    time.sleep(0.15)
    return real(data, size)


images.thumbnail = slow
project = open_project(sys.argv[1])
runner = JobRunner(project, lambda e: e.event == "progress" and print(e.progress.done, flush=True))
print("job", runner.submit(library.plan_thumbnails(project)).id, flush=True)
time.sleep(60)
