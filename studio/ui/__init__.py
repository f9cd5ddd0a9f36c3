"""PySide6 front end: widgets, item models, undo commands and the job bridge. Thin."""
