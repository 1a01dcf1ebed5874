"""The one exception a user sees for bad input."""
from __future__ import annotations

from pathlib import Path


class DatasetError(ValueError):
    """Bad or missing input file. The message names the file and the problem."""

    def __init__(self, path: Path | str, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):  # raised in a worker process, it travels back whole
        return type(self), (self.path, self.problem)
