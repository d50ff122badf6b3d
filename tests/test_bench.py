"""The benchmark: the im2col reference it times, its timing helper, and its table rows."""
import numpy as np
import torch
import torch.nn.functional as F

from autograder.grader import bench, im2col_timing


def test_the_timed_im2col_is_the_reference_solution():
    """Check that the bench times the reference of solutions/, which matches PyTorch."""
    conv2d_im2col = im2col_timing.reference_im2col()
    rng = np.random.default_rng(5)
    x, w, b = rng.normal(size=(2, 3, 9, 8)), rng.normal(size=(4, 3, 3, 2)), rng.normal(size=4)
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                        stride=(2, 1), padding=(1, 0)).numpy()
    np.testing.assert_allclose(conv2d_im2col(x, w, b, stride=(2, 1), padding=(1, 0)), expected,
                               rtol=1e-10, atol=1e-10)


def test_median_times_calls_each_run_in_every_round():
    """Check that every run is called once untimed and ``repeats`` times timed per round."""
    calls = {"a": 0, "b": 0}

    def counter(name):
        def run():
            calls[name] += 1
        return run

    medians = im2col_timing.median_times({"a": counter("a"), "b": counter("b")}, rounds=3, repeats=4)
    assert calls == {"a": 15, "b": 15}
    assert set(medians) == {"a", "b"} and all(v >= 0 for v in medians.values())


def test_im2col_rows_name_the_kernel_and_the_verdict():
    """Check that a ratio to PyTorch's im2col path over 1.5x is over budget, one under it within."""
    times = {"reference": 0.006, "torch": 0.001, "torch_im2col": 0.003}
    rows = bench.table({"im2col": {"kernel": "SkylakeX", "float32": times,
                                   "float64": {**times, "reference": 0.0036}}}).splitlines()
    float32, float64 = rows[-2], rows[-1]
    assert "float32" in float32 and "SkylakeX" in float32 and ": 2.00x;" in float32
    assert "**over budget**" in float32 and "PyTorch's default kernel: 1.0 ms" in float32
    assert ": 1.20x;" in float64 and "within budget" in float64 and "over budget" not in float64


def test_autograde_rows_show_the_engines_account_and_its_overhead():
    """Check that each notebook's row splits the engine's time and the total row compares it
    with nbgrader's own execute step against the budget."""
    measured = {"01_a": {"seconds": 8.0, "stock_seconds": 5.0, "kernel": 2.0, "student cells": 1.5,
                         "test cells": 3.0, "requests": 120},
                "02_b": {"seconds": 120.5, "stock_seconds": 100.0, "kernel": 2.0,
                         "student cells": 50.0, "test cells": 60.0, "requests": 7}}
    rows = bench.table({"autograde": measured}).splitlines()[2:]
    assert len(rows) == 3
    assert rows[0].startswith("| autograde `01_a` | 8.0 s: kernel start 2.0 s, student cells 1.5 s, "
                              "test cells 3.0 s (120 requests to the kernel); nbgrader's own "
                              "execute step 5.0 s |")
    assert "128.5 s; nbgrader's own execute step 105.0 s (+23.5 s)" in rows[2]
    assert "**over budget**" in rows[2]


def test_dask_rows_give_the_rate_and_the_scaling_to_one_worker():
    """Check that the Dask rows give notebooks per minute and the second row its ratio to one worker's."""
    rows = bench.table({"dask": {1: 2.0, 2: 3.5}}).splitlines()[2:]
    assert "cluster of 1 worker process," in rows[0] and "| 2.0 |" in rows[0]
    assert "cluster of 2 worker processes," in rows[1] and "| 3.5 (1.75x one worker's) |" in rows[1]
