"""nbgrader configuration of this repository (the course directory is this folder).

Everything is set in autograder/course_config.py, which the tests use too. This folder's own
``autograder`` comes first: on a class hub the installed package is the student bundle, which
leaves out the instructor's modules.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from autograder.grader.course_config import configure  # noqa: E402

configure(get_config(), root=HERE)  # noqa: F821
