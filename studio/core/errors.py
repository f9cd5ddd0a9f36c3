"""Errors a user can cause. Each message says what happened and what to do."""

from __future__ import annotations


class StudioError(Exception):
    """Base of every error the user can cause or fix; shown as a message, never a traceback."""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class ProjectError(StudioError):
    """Something is wrong with a project file."""


class NotAProjectError(ProjectError):
    """The file is not a Persona Studio project (another SQLite file, not SQLite at all)."""


class DamagedProjectError(ProjectError):
    """The project file fails its integrity check."""

    def __init__(self, message: str, *, hint: str | None = None, backup: str | None = None):
        super().__init__(message, hint=hint)
        self.backup = backup


class NewerSchemaError(ProjectError):
    """The project was written by a newer Persona Studio."""


class ProjectLockedError(ProjectError):
    """Another process has the project open for writing."""

    def __init__(self, message: str, *, hint: str | None = None, holder: dict | None = None):
        super().__init__(message, hint=hint)
        self.holder = holder or {}


class ReadOnlyProjectError(ProjectError):
    """A write was attempted on a project opened read-only."""


class NotFoundError(StudioError):
    """A named thing (persona, version, job) does not exist."""


class InvalidRecordError(StudioError):
    """A persona record does not match the schema; `issues` lists (path, problem) pairs."""

    def __init__(self, issues: list, *, source: str | None = None):
        self.issues = list(issues)
        where = f" in {source}" if source else ""
        lines = "; ".join(f"{i.path}: {i.message}" for i in self.issues[:8])
        more = f" (and {len(self.issues) - 8} more)" if len(self.issues) > 8 else ""
        super().__init__(
            f"The persona record{where} is not valid: {lines}{more}.",
            hint="Fix the fields named above and try again.",
        )


class JobError(StudioError):
    """A job could not be planned, run or resumed."""


class Cancelled(Exception):
    """Raised inside a job when the user cancelled it. Not an error."""


class BadImageError(StudioError):
    """A file is not an image the studio can use; the message is the one-line reason."""


class ModelMissingError(StudioError):
    """A model's files or the library that runs it are not installed where the studio looks."""
