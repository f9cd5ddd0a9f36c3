"""The states a persisted job moves through."""

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
# Ran to its end, but some of its work was refused or could not be done (files rejected,
# pictures unreadable); the job's problems say why.
PROBLEMS = "problems"
FAILED = "failed"
CANCELLED = "cancelled"
INTERRUPTED = "interrupted"
ACTIVE_STATES = (QUEUED, RUNNING)
RESUMABLE_STATES = (INTERRUPTED, CANCELLED, FAILED)
FINISHED_STATES = (DONE, PROBLEMS, FAILED, CANCELLED)  # what "Clear finished" removes
STOPPED_STATES = FINISHED_STATES + (INTERRUPTED,)  # states that stamp a finish time
