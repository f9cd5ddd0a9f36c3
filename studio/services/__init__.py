"""Use cases over the project file: each writes inside one transaction or plans a job."""
