"""The package behind the course notebooks' test cells.

Modules, one job each. For students (shipped in the student bundle):

- ``checking``: compare a student's function with an independent oracle and explain what differs.
- ``guards``: catch forbidden library calls in from-scratch exercises; count Python-level work.
- ``lab``: the notebook's set-up cell in the student's own lab (``start_notebook``): the visible
  tests' checker, short tracebacks, demos that name the exercise they need; ``selfcheck``: the
  summary of every test cell; ``wire`` and ``agent``: the grading kernel's side of the grader's link.
- ``convolution``, ``output_size``, ``parameters``, ``backprop_matrix``, ``pooling``,
  ``upsampling``, ``normalization``, ``residual``, ``hmax_transfer``, ``convnet``: the checks of
  notebooks 01-10 (``convnet`` also builds notebook 10's network in PyTorch).
- ``models``: the small networks of notebook 09 and the EfficientNet-Lite0 loader.
- ``data``: the one place that finds images, digits and MNIST.
- ``widgets``: the interactive explorers, one module per notebook.

For instructors and maintainers, the folder ``grader/`` (left out of the student bundle):
``course_config`` (nbgrader configuration), ``release`` (generate ``notebooks/``), ``grading``
(nbgrader course directories), ``classgrade`` (grade a class), ``bundle`` (the student bundle),
``notebooks`` (reading and running notebooks), ``session``, ``execute``, ``remote``, ``sandbox``
and ``scan`` (the grading engine: the sandboxed kernel, the checker, the tamper scan), ``checks/``
(the hand-written oracles of the hidden tests), ``feedback`` (the pages students get),
``lockedcells`` (nbgrader's locked-cell check, quieter), ``bench`` (the benchmark) and ``im2col_timing``
(its im2col row, run in a child process).
"""
