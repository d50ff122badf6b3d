"""nbgrader configuration of this repository (the course directory is this folder).

Everything is set in autograder/course_config.py, which the tests use too.
"""
import os

from autograder.course_config import configure

configure(get_config(), root=os.path.dirname(os.path.abspath(__file__)))  # noqa: F821
