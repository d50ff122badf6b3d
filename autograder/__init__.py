"""The package behind the course notebooks' test cells.

Modules, one job each:

- ``checking``: compare a student's function with an independent oracle and explain what differs.
- ``guards``: catch forbidden library calls in from-scratch exercises; count Python-level work.
- ``sandbox``: the notebook's first (read-only) cell: exit guards, warnings, undoing monkey-patches.
- ``course_config``: the nbgrader configuration shared by ``nbgrader_config.py`` and the tests.
- ``convolution``: the checks of notebook 01.
- ``data``: the one place that finds images and digits.
- ``widgets``: the interactive explorers.
"""
