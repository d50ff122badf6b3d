"""Mutants of notebook 04 (backprop as an unrolled sparse matrix)."""
from mutants import Mutant

M1, M2 = "conv1d_matrix_solution", "conv2d_matrix_solution"
BACK, NUM = "conv2d_backward_solution", "numerical_gradient_solution"

MUTANTS = [
    Mutant("conv1d_matrix", M1, "kernel flipped (a convolution)",
           "np.broadcast_to(kernel, (n_out, k))", "np.broadcast_to(kernel[::-1], (n_out, k))"),
    Mutant("conv1d_matrix", M1, "stride ignored",
           "columns = rows * stride - padding", "columns = rows - padding"),
    Mutant("conv1d_matrix", M1, "padding columns kept (M acts on the padded x)",
           "columns = rows * stride - padding + np.arange(k)  # (n_out, K): the input each weight multiplies\n"
           "    inside = (columns >= 0) & (columns < n)  # weights on the padding multiply zeros: drop them\n"
           "    M = np.zeros((n_out, n))",
           "columns = rows * stride + np.arange(k)\n"
           "    inside = columns >= 0\n"
           "    M = np.zeros((n_out, n + 2 * padding))"),
    Mutant("conv1d_matrix", M1, "padding added on one side only",
           "columns = rows * stride - padding + np.arange(k)", "columns = rows * stride + np.arange(k)"),
    Mutant("conv1d_matrix", M1, "output one row short",
           "n_out = (n + 2 * padding - k) // stride + 1", "n_out = (n + 2 * padding - k) // stride"),
    Mutant("conv1d_matrix", M1, "accepts a kernel one longer than the padded input",
           "if k > n + 2 * padding:", "if k > n + 2 * padding + 1:"),

    Mutant("conv2d_matrix", M2, "kernel rotated (a convolution)",
           "values = kernel[m, q][inside]", "values = kernel[::-1, ::-1][m, q][inside]"),
    Mutant("conv2d_matrix", M2, "input pixels numbered column by column",
           "columns = (pixel_rows * w + pixel_cols)[inside]",
           "columns = (pixel_rows + pixel_cols * h)[inside]"),
    Mutant("conv2d_matrix", M2, "stride ignored along the width",
           "pixel_cols = j * sw - pw + q", "pixel_cols = j - pw + q"),
    Mutant("conv2d_matrix", M2, "height padding used for the width",
           "pixel_cols = j * sw - pw + q", "pixel_cols = j * sw - ph + q"),
    Mutant("conv2d_matrix", M2, "returns the dense matrix",
           "shape=(h_out * w_out, h * w))\n", "shape=(h_out * w_out, h * w)).toarray()\n"),
    Mutant("conv2d_matrix", M2, "builds the dense matrix, then converts it to CSR",
           "return scipy.sparse.csr_matrix((values, (rows, columns)), shape=(h_out * w_out, h * w))",
           "dense = np.zeros((h_out * w_out, h * w))\n"
           "    dense[rows, columns] = values\n"
           "    return scipy.sparse.csr_matrix(dense)"),
    Mutant("conv2d_matrix", M2, "accepts a kernel wider than the padded image",
           "if kh > h + 2 * ph or kw > w + 2 * pw:", "if kh > h + 2 * ph:"),

    Mutant("conv2d_backward", BACK, "dw not summed over the batch (first sample only)",
           "dw = np.tensordot(grad_out, windows, axes=([0, 2, 3], [0, 2, 3]))",
           "dw = np.tensordot(grad_out[0], windows[0], axes=([1, 2], [1, 2]))"),
    Mutant("conv2d_backward", BACK, "dw averaged over the batch",
           "dw = np.tensordot(grad_out, windows, axes=([0, 2, 3], [0, 2, 3]))",
           "dw = np.tensordot(grad_out, windows, axes=([0, 2, 3], [0, 2, 3])) / n"),
    Mutant("conv2d_backward", BACK, "db summed over the wrong axes (positions of sample 0)",
           "db = grad_out.sum(axis=(0, 2, 3))", "db = grad_out.sum(axis=(2, 3))[0]"),
    Mutant("conv2d_backward", BACK, "db averaged instead of summed",
           "db = grad_out.sum(axis=(0, 2, 3))", "db = grad_out.mean(axis=(0, 2, 3))"),
    Mutant("conv2d_backward", BACK, "dx scatters through the rotated kernel",
           "grad_out, w[:, :, m, q], axes", "grad_out, w[:, :, kh - 1 - m, kw - 1 - q], axes"),
    Mutant("conv2d_backward", BACK, "transpose missing in dx (w[c, o] instead of w[o, c])",
           "grad_out, w[:, :, m, q], axes=([1], [0]))", "grad_out, w[:, :, m, q], axes=([1], [1]))"),
    Mutant("conv2d_backward", BACK, "dx keeps the padding",
           "dx = dx_pad[:, :, ph:ph + h, pw:pw + width]", "dx = dx_pad"),
    Mutant("conv2d_backward", BACK, "stride ignored when scattering dx",
           "dx_pad[:, :, m:m + sh * h_out:sh, q:q + sw * w_out:sw]",
           "dx_pad[:, :, m:m + h_out, q:q + w_out]"),
    Mutant("conv2d_backward", BACK, "dw correlates the unpadded input",
           "sliding_window_view(x_pad, (kh, kw)", "sliding_window_view(x, (kh, kw)"),
    Mutant("conv2d_backward", BACK, "accepts stride 0",
           '_integer_pair(stride, "stride", 1)', '_integer_pair(stride, "stride", 0)'),

    Mutant("numerical_gradient", NUM, "forward differences",
           "grad[index] = (f_plus - f_minus) / (2 * eps)",
           "grad[index] = (f_plus - _scalar(f(point))) / eps"),
    Mutant("numerical_gradient", NUM, "eps not divided by 2",
           "(f_plus - f_minus) / (2 * eps)", "(f_plus - f_minus) / eps"),
    Mutant("numerical_gradient", NUM, "x perturbed in place, restored by arithmetic (rounding left)",
           "point = np.array(x, dtype=np.float64)  # a copy: the caller's x is never touched\n"
           "    grad = np.zeros_like(point)\n"
           "    for index in np.ndindex(point.shape):\n"
           "        original = point[index]\n"
           "        point[index] = original + eps\n"
           "        f_plus = _scalar(f(point))\n"
           "        point[index] = original - eps\n"
           "        f_minus = _scalar(f(point))\n"
           "        point[index] = original\n",
           "point = x\n"
           "    grad = np.zeros_like(point)\n"
           "    for index in np.ndindex(point.shape):\n"
           "        point[index] += eps\n"
           "        f_plus = _scalar(f(point))\n"
           "        point[index] -= 2 * eps\n"
           "        f_minus = _scalar(f(point))\n"
           "        point[index] += eps\n"),
    Mutant("numerical_gradient", NUM, "entries not put back after their step",
           "        point[index] = original\n        grad", "        grad"),
    Mutant("numerical_gradient", NUM, "gradient returned flattened",
           "    return grad\n", "    return grad.ravel()\n"),
    Mutant("numerical_gradient", NUM, "accepts eps = 0",
           "if not eps > 0:", "if eps < 0:"),
]
