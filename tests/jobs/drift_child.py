"""Child for the drift crash test: runs a slowed drift analysis, printing each committed unit."""

import sys
import time

from studio.jobs import drift_kinds
from studio.jobs.runner import JobRunner
from studio.services import drift
from studio.services.projects import open_project

real = drift_kinds._load_face_engine


def slow_engine(name, *options):
    engine = real(name, *options)
    many = engine.analyze_many

    def slow(images):
        time.sleep(0.5)
        return many(images)

    engine.analyze_many = slow
    return engine


drift_kinds._load_face_engine = slow_engine
drift_kinds.ANALYSIS_BATCH = 1  # one frame a batch, so the kill lands between frames
project = open_project(sys.argv[1])
runner = JobRunner(project, lambda e: e.event == "progress" and print(e.progress.done, flush=True))
print("job", runner.submit(drift.plan_analysis(project)).id, flush=True)
time.sleep(120)
