"""Time the reference ``conv2d_im2col`` against PyTorch's CPU ``conv2d`` (the im2col row of the bench).

    python -m autograder.grader.im2col_timing     # prints one JSON object

Layer of COURSE.md's budget: N=32, C_in=16, C_out=32, 32x32 input, 3x3 kernel, padding 1. Three
candidates, timed in alternating rounds: the reference, PyTorch's ``conv2d`` with oneDNN switched
off (its own im2col and BLAS product: the same algorithm, what the budget compares with), and
PyTorch's ``conv2d`` as a user calls it (oneDNN's direct convolution for float32: the limit).
Reported: medians in seconds per dtype, and the kernel that OpenBLAS chose for NumPy; ``FLOPS``
is the layer's multiply-adds times two, for the GFLOP/s each achieves.

``autograder.grader.bench`` runs this module in a child process without ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE``, so that OpenBLAS picks its kernels from the processor as PyTorch does.
"""
import json
import statistics
import time

from autograder.grader import notebooks, release

SOURCE = release.REPO_ROOT / "solutions" / "01_convolution" / "01_convolution.ipynb"
SHAPES = {"x": (32, 16, 32, 32), "w": (32, 16, 3, 3)}
FLOPS = 2 * 32 * 32 * 32 * 32 * 16 * 3 * 3  # 2 N C_out H_out W_out C_in K_h K_w


def reference_im2col():
    """The reference ``conv2d_im2col`` of ``solutions/``, with the helpers it calls."""
    import numpy as np

    return notebooks.solution_namespace(notebooks.read(SOURCE), {"np": np})["conv2d_im2col"]


def median_times(runs, rounds=5, repeats=10):
    """``{name: median seconds}`` of ``runs`` (name -> callable).

    Each round times every run ``repeats`` times in a row, after one untimed call; the rounds
    alternate the runs, so that a drifting machine slows all of them alike, while a run is never
    timed right after another one has filled the caches and the allocator with its own data.
    """
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            run()
            for _ in range(repeats):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def openblas_kernel():
    """The kernel ("SkylakeX", "Haswell", ...) NumPy's OpenBLAS runs, or "unknown"."""
    from threadpoolctl import threadpool_info

    import numpy  # noqa: F401  (loads the BLAS that threadpoolctl inspects)

    kernels = [info.get("architecture") for info in threadpool_info() if info["user_api"] == "blas"]
    return kernels[0] if kernels and kernels[0] else "unknown"


def measure():
    """``{"kernel": str, dtype: {"reference", "torch", "torch_im2col": seconds}}``."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    conv2d_im2col = reference_im2col()
    rng = np.random.default_rng(0)
    results = {"kernel": openblas_kernel()}
    for dtype in ("float32", "float64"):
        x = rng.normal(size=SHAPES["x"]).astype(dtype)
        w = rng.normal(size=SHAPES["w"]).astype(dtype)
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)

        def torch_im2col():
            with torch.backends.mkldnn.flags(enabled=False):
                return F.conv2d(xt, wt, padding=1)

        results[dtype] = median_times({
            "reference": lambda: conv2d_im2col(x, w, padding=1),
            "torch": lambda: F.conv2d(xt, wt, padding=1),
            "torch_im2col": torch_im2col,
        })
    return results


if __name__ == "__main__":
    print(json.dumps(measure()))
