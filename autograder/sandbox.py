"""The set-up cells' old import path; ``autograder.lab`` holds ``start_notebook`` now."""
from autograder.lab import start_notebook  # noqa: F401
