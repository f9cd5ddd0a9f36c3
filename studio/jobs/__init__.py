"""Runs job specs off the calling thread or in a subprocess, persisting progress. No Qt."""
