"""Tests of the face identity engines."""
