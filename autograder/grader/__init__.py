"""The grader's side of the course: never shipped to students, never visible to a graded kernel.

Everything an instructor or maintainer runs lives here, and everything that could compute a
graded function's answer other than the public libraries themselves.
"""
