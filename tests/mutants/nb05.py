"""Mutants of notebook 05 (pooling)."""
from mutants import Mutant

MAX, AVG = "max_pool2d_solution", "avg_pool2d_solution"
MAX_BACK, AVG_BACK = "max_pool2d_backward_solution", "avg_pool2d_backward_solution"
GLOBAL = "global_avg_pool_solution"

MUTANTS = [
    Mutant("max_pool2d", MAX, "stride defaults to 1 instead of kernel_size",
           "stride = kernel if stride is None", "stride = (1, 1) if stride is None"),
    Mutant("max_pool2d", MAX, "indices point into the padded plane",
           "return out, (rows * width + cols).astype(np.int64)",
           "return out, ((rows + ph) * (width + 2 * pw) + cols + pw).astype(np.int64)"),
    Mutant("max_pool2d", MAX, "padding as zeros instead of -inf",
           "constant_values=-np.inf)", "constant_values=0.0)"),
    Mutant("max_pool2d", MAX, "ties broken by the last maximum",
           "first = flat.argmax(axis=-1)", "first = kh * kw - 1 - flat[..., ::-1].argmax(axis=-1)"),
    Mutant("max_pool2d", MAX, "indices column-major (column * H + row)",
           "return out, (rows * width + cols).astype(np.int64)",
           "return out, (cols * x.shape[2] + rows).astype(np.int64)"),
    Mutant("max_pool2d", MAX, "window offset ignores the padding (indices shifted)",
           "rows = (np.arange(h_out) * sh - ph)[:, None] + first // kw",
           "rows = (np.arange(h_out) * sh)[:, None] + first // kw"),
    Mutant("max_pool2d", MAX, "accepts padding larger than half the kernel",
           "if p > k // 2:", "if p > k:"),

    Mutant("avg_pool2d", AVG, "padding not counted (count_include_pad=False)",
           "return windows[:, :, ::sh, ::sw].mean(axis=(4, 5))",
           "counts = np.lib.stride_tricks.sliding_window_view(\n"
           "        np.pad(np.ones_like(x), ((0, 0), (0, 0), (ph, ph), (pw, pw))), (kh, kw), axis=(2, 3))\n"
           "    return (windows[:, :, ::sh, ::sw].sum(axis=(4, 5))\n"
           "            / counts[:, :, ::sh, ::sw].sum(axis=(4, 5)))"),
    Mutant("avg_pool2d", AVG, "stride defaults to 1 instead of kernel_size",
           "pool_arguments(x, kernel_size, stride, padding)",
           "pool_arguments(x, kernel_size, stride or 1, padding)"),
    Mutant("avg_pool2d", AVG, "divided by k_h squared (square kernels assumed)",
           ".mean(axis=(4, 5))", ".sum(axis=(4, 5)) / kh ** 2"),
    Mutant("avg_pool2d", AVG, "padding on one side only",
           "(ph, ph), (pw, pw)))  # zeros", "(0, 2 * ph), (0, 2 * pw)))  # zeros"),
    Mutant("avg_pool2d", AVG, "window sums instead of means",
           ".mean(axis=(4, 5))", ".sum(axis=(4, 5))"),

    Mutant("max_pool2d_backward", MAX_BACK, "overwrites instead of accumulating",
           "np.add.at(grad_x, (planes, indices.reshape(n * c, -1)), grad_out.reshape(n * c, -1))",
           "grad_x[planes, indices.reshape(n * c, -1)] = grad_out.reshape(n * c, -1)"),
    Mutant("max_pool2d_backward", MAX_BACK, "every plane's gradient sent to the first plane",
           "planes = np.arange(n * c)[:, None]", "planes = np.zeros((n * c, 1), dtype=int)"),
    Mutant("max_pool2d_backward", MAX_BACK, "indices read column-major",
           "(planes, indices.reshape(n * c, -1))",
           "(planes, (indices % h * w + indices // h).reshape(n * c, -1))"),
    Mutant("max_pool2d_backward", MAX_BACK, "grad_out ignored (each switch gets 1)",
           ", grad_out.reshape(n * c, -1))", ", 1.0)"),
    Mutant("max_pool2d_backward", MAX_BACK, "accepts indices outside the plane",
           "indices.max() >= h * w", "indices.max() > h * w"),

    Mutant("avg_pool2d_backward", AVG_BACK, "gradient not divided by the window size",
           "share = grad_out / (kh * kw)", "share = grad_out"),
    Mutant("avg_pool2d_backward", AVG_BACK, "overwrites instead of accumulating",
           "] += share", "] = share"),
    Mutant("avg_pool2d_backward", AVG_BACK, "crops the wrong corner of the padded gradient",
           "return grad_pad[:, :, ph:ph + h, pw:pw + w]", "return grad_pad[:, :, :h, :w]"),
    Mutant("avg_pool2d_backward", AVG_BACK, "stride defaults to 1 instead of kernel_size",
           "kernel_size, stride, padding)", "kernel_size, stride or 1, padding)"),
    Mutant("avg_pool2d_backward", AVG_BACK, "divided by k_h squared (square kernels assumed)",
           "share = grad_out / (kh * kw)", "share = grad_out / (kh * kh)"),

    Mutant("global_avg_pool", GLOBAL, "averages over the wrong axes (C and H)",
           "x.mean(axis=(2, 3), keepdims=True)", "x.mean(axis=(1, 2), keepdims=True)"),
    Mutant("global_avg_pool", GLOBAL, "returns (N, C) instead of (N, C, 1, 1)",
           "x.mean(axis=(2, 3), keepdims=True)", "x.mean(axis=(2, 3))"),
    Mutant("global_avg_pool", GLOBAL, "sums instead of averaging",
           "x.mean(axis=(2, 3), keepdims=True)", "x.sum(axis=(2, 3), keepdims=True)"),
    Mutant("global_avg_pool", GLOBAL, "averages over the batch too",
           "x.mean(axis=(2, 3), keepdims=True)",
           "np.broadcast_to(x.mean(axis=(0, 2, 3), keepdims=True), (x.shape[0], x.shape[1], 1, 1))"),
    Mutant("global_avg_pool", GLOBAL, "accepts an empty plane",
           "if x.shape[2] == 0 or x.shape[3] == 0:", "if False:"),
]
