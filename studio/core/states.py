"""The states a persisted job moves through."""

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
INTERRUPTED = "interrupted"
ACTIVE_STATES = (QUEUED, RUNNING)
RESUMABLE_STATES = (INTERRUPTED, CANCELLED, FAILED)
