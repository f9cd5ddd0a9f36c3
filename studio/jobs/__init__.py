"""Runs job specs in the runner's thread or a long-lived worker process, with progress. No Qt."""
