"""The review scan flags what an honest exercise never needs, and nothing an honest one writes."""
import numpy as np
import nbformat
import pytest
import scipy.signal
import torch.nn.functional as F

from autograder.grader import notebooks, scan

SETUP = "import numpy as np\nimport torch\nimport torch.nn.functional as F\nfrom autograder.lab import start_notebook"
DEMO = ("import os\nfast = bool(os.environ.get('NBGRADER_EXECUTION'))\n"
        "from autograder.data import load_image\nimage = load_image('camera', 32)")
FORBIDDEN = {"correlate1d": [np.correlate], "correlate2d": [scipy.signal.correlate2d],
             "conv2d": [F.conv2d]}


def _scan(*student_cells, demo=DEMO):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(SETUP, metadata={"nbgrader": {"grade_id": "setup",
                                                                            "locked": True}}))
    nb.cells.append(nbformat.v4.new_code_cell(demo))
    for number, source in enumerate(student_cells):
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
            "grade_id": f"cell{number}_solution", "solution": True}}))
    return [str(f) for f in scan.scan(nb, [SETUP, DEMO], FORBIDDEN)]


HONEST = [
    "def correlate1d(x, k):\n    return np.array([np.dot(x[i:i + len(k)], k) for i in range(len(x) - len(k) + 1)])",
    "def conv2d(x, w, b=None, stride=1, padding=0):\n    x = np.pad(x, padding)\n"
    "    windows = np.lib.stride_tricks.sliding_window_view(x, w.shape[-2:], axis=(2, 3))\n"
    "    return np.einsum('nchwij,ocij->nohw', windows, w)",
    "%timeit np.ones(3)\nprint('shape', (2, 3), 'ratio 1/2', 'done...')",
    "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.savefig('figure.png')",
    "def freeze(model, trainable=()):\n    for name, p in model.named_parameters():\n"
    "        p.requires_grad = any(name.startswith(t) for t in trainable)\n    return model",
    "def replace_head(model, n):\n    names = [k for k, m in model.named_modules()]\n"
    "    parent = getattr(model, names[1])\n    return model",
    # the student compares with the library in a cell of their own, without aliasing it
    "print(np.allclose(np.correlate([1.0, 2.0], [1.0], 'valid'), [1.0, 2.0]))",
    # a range in a message is not a path
    "def f(i, n):\n    raise ValueError(f'index {i} is outside 0..{n - 1}')",
    # a demo edited by the student: the instructor's lines stay unflagged
    "import os\nfast = bool(os.environ.get('NBGRADER_EXECUTION'))\nimage = load_image('camera', 64)",
]


@pytest.mark.parametrize("source", HONEST)
def test_honest_cells_are_not_flagged(source):
    assert _scan(source) == []


CHEATS = [
    ("def correlate1d(x, k):\n    return np.correlate(x, k, 'valid')", "numpy.correlate"),
    ("from numpy import correlate as c\ndef correlate1d(x, k):\n    return c(x, k, 'valid')", "numpy.correlate"),
    ("def correlate1d(x, k):\n    return np._core.numeric.correlate(x, k, 'valid')", "correlate1d forbids"),
    ("def correlate1d(x, k):\n    return getattr(np, 'correlate')(x, k, 'valid')", "numpy.correlate"),
    ("def correlate1d(x, k):\n    return getattr(np, 'corr' + 'elate')(x, k, 'valid')", "computed name"),
    ("from scipy import signal as s\ndef correlate2d(a, b):\n    return s.correlate2d(a, b, 'valid')", "correlate2d forbids"),
    ("helper = F.conv2d", "conv2d forbids"),
    ("get_ipython().input_transformers_post.append(lambda lines: lines)", "IPython"),
    ("ip = get_ipython()\nip.events.register('post_run_cell', print)", "IPython"),
    ("import sys\nsys.settrace(None)", "trace"),
    ("import sys\nframe = sys._getframe(1)", "frames"),
    ("import gc\ngc.get_objects()", "garbage collector"),
    ("import ctypes\nctypes.string_at(0)", "ctypes"),
    ("import threading\nthreading.Thread(target=print).start()", "threads"),
    ("import subprocess\nsubprocess.Popen(['sleep', '100'])", "processes"),
    ("import os\nos.system('ls')", "shell"),
    ("!ls /", "shell command"),
    ("def f():\n    pass\nf.__code__ = (lambda: 1).__code__", "code"),
    ("exec('x = 1')", "exec"),
    ("from autograder.checking import assert_close", "checking code"),
    ("import autograder.grader.checks.convolution", "checking code"),
    ("text = open('/work/main/solutions/01_convolution/01_convolution.ipynb').read()", "outside"),
    ("open('../../gradebook.db')", "outside"),
    ("np.allclose = lambda *a, **k: True", "replaces a library attribute"),
    ("import builtins\nbuiltins.print = None", "builtins"),
    ("import sys\nvars(sys)['settrace'](None)", "vars()"),
    ("def correlate1d(x, k):\n    return vars(np)['correlate'](x, k, 'valid')", "vars()"),
    ("import sys\nsys.__dict__['setprofile'](None)", "__dict__"),
    ("import torch\ndef conv2d(x, w, b=None, stride=1, padding=0):\n"
     "    return torch.ops.aten.convolution(x, w, b, [stride] * 2, [padding] * 2, [1, 1], False, [0, 0], 1)",
     "internal operators"),
    ("import torch\npool = torch._C._nn.adaptive_avg_pool2d", "internal operators"),
    ("import autograder.lab as lab\nwire = lab.checking.wire", "checking code"),
    ("from autograder import lab\nlab.checking.wire.Encoder = object", "checking code"),
    ("from autograder.models import load_pretrained\ndef train(*a, **k):\n    return load_pretrained()", "pretrained"),
    ("def train(*a, **k):\n    return dict(np.load('data/convnet_mnist.npz'))", "pretrained"),
]


@pytest.mark.parametrize("source, reason", CHEATS)
def test_tampering_and_forbidden_references_are_flagged(source, reason):
    flags = _scan(source)
    assert flags and any(reason in f for f in flags), flags


def test_flags_name_the_cell():
    flags = _scan("def correlate1d(x, k):\n    return np.correlate(x, k, 'valid')")
    assert flags[0].startswith("cell0_solution: refers to numpy.correlate")
