"""Fixtures for the service tests: the real photos the face engines are tested on."""

from tests.fixtures.photos import sdist_photos  # noqa: F401 (a fixture)
