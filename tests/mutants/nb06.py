"""Mutants of notebook 06 (upsampling and transposed convolution)."""
from mutants import Mutant

NEAREST, NAILS = "nearest_upsample_solution", "bed_of_nails_upsample_solution"
UNPOOL = "max_unpool2d_solution"
CT1, CT2 = "conv_transpose1d_solution", "conv_transpose2d_solution"
BILINEAR = "bilinear_kernel_solution"

MUTANTS = [
    Mutant("nearest_upsample", NEAREST, "repeats along the wrong axis (rows twice)",
           "repeat(sw, axis=3)", "repeat(sw, axis=2)"),
    Mutant("nearest_upsample", NEAREST, "tiles the image instead of repeating each value",
           "return x.repeat(sh, axis=2).repeat(sw, axis=3)", "return np.tile(x, (1, 1, sh, sw))"),
    Mutant("nearest_upsample", NEAREST, "scales of height and width swapped",
           "x.repeat(sh, axis=2).repeat(sw, axis=3)", "x.repeat(sw, axis=2).repeat(sh, axis=3)"),
    Mutant("nearest_upsample", NEAREST, "accepts scale 0", "if min(scale) < 1:", "if min(scale) < 0:"),

    Mutant("bed_of_nails_upsample", NAILS, "values at the centre of their blocks",
           "out[:, :, ::sh, ::sw] = x", "out[:, :, sh // 2::sh, sw // 2::sw] = x"),
    Mutant("bed_of_nails_upsample", NAILS, "values at the bottom-right of their blocks",
           "out[:, :, ::sh, ::sw] = x", "out[:, :, sh - 1::sh, sw - 1::sw] = x"),
    Mutant("bed_of_nails_upsample", NAILS, "values repeated over the block (nearest)",
           "out[:, :, ::sh, ::sw] = x", "out[...] = x.repeat(sh, axis=2).repeat(sw, axis=3)"),
    Mutant("bed_of_nails_upsample", NAILS, "scales of height and width swapped",
           "out = np.zeros((n, c, h * sh, w * sw), dtype=x.dtype)\n    out[:, :, ::sh, ::sw] = x",
           "out = np.zeros((n, c, h * sw, w * sh), dtype=x.dtype)\n    out[:, :, ::sw, ::sh] = x"),

    Mutant("max_unpool2d", UNPOOL, "indices into the wrong plane (batch ignored)",
           "planes = np.arange(n * c)[:, None]", "planes = np.arange(n * c)[:, None] % c"),
    Mutant("max_unpool2d", UNPOOL, "values summed where overlapping windows chose the same pixel",
           "flat[planes, indices.reshape(n * c, -1)] = x.reshape(n * c, -1)",
           "np.add.at(flat, (planes, indices.reshape(n * c, -1)), x.reshape(n * c, -1))"),
    Mutant("max_unpool2d", UNPOOL, "output height and width swapped",
           "return flat.reshape(n, c, h_out, w_out)", "return flat.reshape(n, c, w_out, h_out)"),
    Mutant("max_unpool2d", UNPOOL, "indices read as positions in the input plane",
           "flat[planes, indices.reshape(n * c, -1)] = x.reshape(n * c, -1)",
           "flat[planes, (indices // x.shape[3] * w_out + indices % x.shape[3]).reshape(n * c, -1)]"
           " = x.reshape(n * c, -1)"),
    Mutant("max_unpool2d", UNPOOL, "indices out of range not rejected",
           "if indices.size and not 0 <= indices.min() <= indices.max() < h_out * w_out:",
           "if indices.size and indices.min() < 0:"),

    Mutant("conv_transpose1d", CT1, "kernel flipped",
           "+= value * k\n", "+= value * k[::-1]\n"),
    Mutant("conv_transpose1d", CT1, "overlaps overwritten instead of summed",
           "+= value * k\n", "= value * k\n"),
    Mutant("conv_transpose1d", CT1, "stride ignored when placing the copies",
           "y[i * stride:i * stride + len(k)]", "y[i:i + len(k)]"),
    Mutant("conv_transpose1d", CT1, "output one sample longer",
           "y = np.zeros((len(x) - 1) * stride + len(k))", "y = np.zeros(len(x) * stride + len(k) - 1)"),

    Mutant("conv_transpose2d", CT2, "kernel flipped",
           "w[:, :, m, q], axes", "w[:, :, kh - 1 - m, kw - 1 - q], axes"),
    Mutant("conv_transpose2d", CT2, "overlaps overwritten instead of summed",
           "q:q + (width - 1) * sw + 1:sw] += \\", "q:q + (width - 1) * sw + 1:sw] = \\"),
    Mutant("conv_transpose2d", CT2, "padding not cropped",
           "y = full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw]", "y = full"),
    Mutant("conv_transpose2d", CT2, "padding cropped from the top and left only",
           "y = full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw]",
           "y = full[:, :, 2 * ph:, 2 * pw:]"),
    Mutant("conv_transpose2d", CT2, "output_padding on the wrong side (top/left)",
           "(0, oph), (0, opw)", "(oph, 0), (opw, 0)"),
    Mutant("conv_transpose2d", CT2, "output_padding as zeros appended after the crop",
           "full = np.pad(full, ((0, 0), (0, 0), (0, oph), (0, opw)))\n"
           "    y = full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw]",
           "y = full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw]\n"
           "    y = np.pad(y, ((0, 0), (0, 0), (0, oph), (0, opw)))"),
    Mutant("conv_transpose2d", CT2, "bias ignored",
           "y = y + b[None, :, None, None]", "y = y + 0"),
    Mutant("conv_transpose2d", CT2, "weights read as (C_out, C_in, K_h, K_w)",
           "np.tensordot(x, w[:, :, m, q], axes=([1], [0]))",
           "np.tensordot(x, w[:, :, m, q], axes=([1], [1]))"),
    Mutant("conv_transpose2d", CT2, "accepts output_padding equal to the stride",
           "if not all(0 <= op < s for", "if not all(0 <= op <= s for"),

    Mutant("bilinear_kernel", BILINEAR, "tent off-centre (centre at K // 2)",
           "centre = (size - 1) / 2", "centre = size // 2"),
    Mutant("bilinear_kernel", BILINEAR, "normalised to sum 1",
           "return np.outer(tent, tent)", "return np.outer(tent, tent) / np.outer(tent, tent).sum()"),
    Mutant("bilinear_kernel", BILINEAR, "size 2 * scale for every scale",
           "size = 2 * scale - scale % 2", "size = 2 * scale"),
    Mutant("bilinear_kernel", BILINEAR, "tent too wide (f = K // 2 + 1)",
           "factor = (size + 1) // 2", "factor = size // 2 + 1"),
]
