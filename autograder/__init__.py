"""The package behind the course notebooks' test cells.

Modules, one job each. For students (shipped in the student bundle):

- ``checking``: compare a student's function with an independent oracle and explain what differs.
- ``guards``: catch forbidden library calls in from-scratch exercises; count Python-level work.
- ``sandbox``: the notebook's first (read-only) cell: exit guards, warnings, undoing monkey-patches.
- ``convolution``, ``output_size``, ``parameters``, ``backprop_matrix``, ``pooling``,
  ``upsampling``, ``normalization``, ``residual``, ``hmax_transfer``, ``convnet``: the checks of
  notebooks 01-10 (``convnet`` also builds notebook 10's network in PyTorch).
- ``models``: the small networks of notebook 09 and the EfficientNet-Lite0 loader.
- ``data``: the one place that finds images, digits and MNIST.
- ``widgets``: the interactive explorers, one module per notebook.

For instructors and maintainers, the folder ``grader/`` (left out of the student bundle):
``course_config`` (nbgrader configuration), ``release`` (generate ``notebooks/``), ``grading``
(nbgrader course directories), ``classgrade`` (grade a class), ``bundle`` (the student bundle),
``notebooks`` (reading and running notebooks), ``bench`` (the benchmark) and ``im2col_timing``
(its im2col row, run in a child process).
"""
