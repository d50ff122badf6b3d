"""Interactive view of the unrolled matrix M of a convolution, y = M x (notebook 04).

Sliders for the input length (1-D) or the image side (2-D), the kernel size, the stride and the
padding draw M with each kernel weight in its own colour and zeros white, the kernel in the same
colours, and a summary of M's shape, density and memory. M is built without student code, by
PyTorch: its conv is applied to every unit impulse (the responses are M's columns) with a kernel
that holds the weight numbers 1, 2, ..., so every entry of M says which weight it is.

Measured on a 2-core CPU: `render` takes about 7 ms at the largest setting (2-D, side 12, kernel 5,
padding 4: a 256 x 144 matrix) and 1-5 ms at typical ones; up to 37 ms while other jobs load
the machine.
"""

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib import colormaps

from .common import check_int, enlarge, explorer, panel_column, to_png

DIMENSIONS = ("1-D", "2-D")
MAX_SIZE = {"1-D": 32, "2-D": 12}
MAX_KERNEL_SIZE = 5
MAX_STRIDE = 4
MAX_PADDING = 4
PANEL_NAMES = ("matrix", "kernel")

WHITE = np.array([255, 255, 255], dtype=np.uint8)
GRID = np.array([225, 225, 225], dtype=np.uint8)
# One distinct colour per weight (up to 5 x 5 = 25), none of them close to white.
PALETTE = (np.vstack([colormaps["tab10"](np.arange(10))[:, :3],
                      colormaps["tab20b"](np.arange(20))[:, :3]]) * 255).round().astype(np.uint8)


def _check_setting(dims, size, kernel_size, stride, padding):
    """Validated ``(dims, size, kernel_size, stride, padding)``; ValueError says what is impossible."""
    if dims not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dims!r}; choose one of {', '.join(DIMENSIONS)}")
    size = check_int(size, "the input size", 1, MAX_SIZE[dims])
    kernel_size = check_int(kernel_size, "the kernel size", 1, MAX_KERNEL_SIZE)
    stride = check_int(stride, "the stride", 1, MAX_STRIDE)
    padding = check_int(padding, "the padding", 0, MAX_PADDING)
    if kernel_size > size + 2 * padding:
        raise ValueError(f"a kernel of size {kernel_size} does not fit in an input of size {size} "
                         f"with padding {padding}: {size} + 2 x {padding} < {kernel_size}")
    return dims, size, kernel_size, stride, padding


def weight_numbers(dims, size, kernel_size, stride=1, padding=0):
    """Which weight fills each entry of the unrolled matrix M.

    dims: "1-D" (input of length ``size``) or "2-D" (``size`` x ``size`` image, flattened row-major);
    kernel_size: K, the kernel is (K,) or (K, K); stride >= 1, padding >= 0.
    Returns an int array (n_out, n): 0 where M is zero, m + 1 where M holds weight number m
    (weights numbered row-major in 2-D). Column c of M is PyTorch's conv1d/conv2d of the impulse at
    input c, with the weight numbers as kernel. Raises ValueError for impossible settings.
    """
    dims, size, kernel_size, stride, padding = _check_setting(dims, size, kernel_size, stride, padding)
    axes = 1 if dims == "1-D" else 2
    conv = F.conv1d if axes == 1 else F.conv2d
    numbers = torch.arange(1.0, kernel_size ** axes + 1, dtype=torch.float64)
    impulses = torch.eye(size ** axes, dtype=torch.float64).reshape((-1, 1) + (size,) * axes)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: other threads would only add their start-up cost
    try:
        responses = conv(impulses, numbers.reshape((1, 1) + (kernel_size,) * axes), stride=stride,
                         padding=padding)  # (inputs, 1, outputs...): column c of M is row c here
    finally:
        torch.set_num_threads(threads)
    matrix = np.rint(responses.reshape(size ** axes, -1).numpy().T).astype(np.int64)
    return np.ascontiguousarray(matrix)


def _cells_to_pixels(numbers, cell):
    """RGB uint8 image of an int array: each entry a ``cell`` x ``cell`` block, coloured by weight."""
    colours = np.vstack([WHITE, PALETTE])[numbers]  # (rows, cols, 3)
    pixels = enlarge(colours, cell)
    if cell >= 4:  # thin grid lines so that the white zeros show as cells
        pixels[::cell, :] = GRID
        pixels[:, ::cell] = GRID
        pixels = np.concatenate([pixels, np.broadcast_to(GRID, (1,) + pixels.shape[1:])], axis=0)
        pixels = np.concatenate([pixels, np.broadcast_to(GRID, (pixels.shape[0], 1, 3))], axis=1)
    return np.ascontiguousarray(pixels)


def _cell_size(shape, max_width):
    """Pixels per matrix entry: the matrix fits in ``max_width`` columns, cells 1 to 24 pixels."""
    return int(max(1, min(24, max_width // max(shape[1], 1))))


def memory(numbers):
    """``(nnz, density, dense_bytes, csr_bytes)`` of M: float64 values, int32 indices and offsets."""
    rows, columns = numbers.shape
    nnz = int(np.count_nonzero(numbers))
    return nnz, nnz / (rows * columns), rows * columns * 8, nnz * (8 + 4) + (rows + 1) * 4


def summary(numbers, dims, kernel_size):
    """One-line description of M: shape, non-zeros, density, memory, how often weight 0 is used."""
    rows, columns = numbers.shape
    nnz, density, dense_bytes, csr_bytes = memory(numbers)
    weights = kernel_size if dims == "1-D" else kernel_size ** 2
    uses = int(np.sum(numbers == 1))
    return (f"M is {rows} × {columns} ({dims}, {weights} weight{'s' * (weights > 1)}): {nnz} "
            f"non-zeros, density "
            f"{100 * density:.1f}%; weight 0 fills {uses} entries; dense float64 {dense_bytes:,} "
            f"bytes, CSR {csr_bytes:,} bytes")


def render(dims, size, kernel_size, stride=1, padding=0, max_width=480):
    """Compute and draw one state of the explorer.

    dims, size, kernel_size, stride, padding: as in `weight_numbers`; max_width: panel width in pixels.
    Returns a dict with "numbers" (the int array of `weight_numbers`), "density" (non-zeros over
    entries), "png" (PNG bytes of the panels "matrix" and "kernel") and "text" (a one-line summary).
    Raises ValueError for impossible settings.
    """
    numbers = weight_numbers(dims, size, kernel_size, stride, padding)
    kernel_numbers = np.arange(1, (kernel_size if dims == "1-D" else kernel_size ** 2) + 1)
    kernel_numbers = kernel_numbers.reshape(1 if dims == "1-D" else kernel_size, kernel_size)
    png = {
        "matrix": to_png(_cells_to_pixels(numbers, _cell_size(numbers.shape, max_width))),
        "kernel": to_png(_cells_to_pixels(kernel_numbers, 24)),
    }
    return {"numbers": numbers, "density": memory(numbers)[1], "png": png,
            "text": summary(numbers, dims, kernel_size)}


def _make_controls():
    """The input controls, keyed dims, size, kernel_size, stride, padding."""
    return {
        "dims": widgets.ToggleButtons(options=DIMENSIONS, value="1-D", description="input"),
        "size": widgets.IntSlider(value=8, min=1, max=MAX_SIZE["1-D"], description="n"),
        "kernel_size": widgets.IntSlider(value=3, min=1, max=MAX_KERNEL_SIZE, description="kernel"),
        "stride": widgets.IntSlider(value=1, min=1, max=MAX_STRIDE, description="stride"),
        "padding": widgets.IntSlider(value=0, min=0, max=MAX_PADDING, description="padding"),
    }


def unrolled_matrix_explorer(max_width=480):
    """Build the interactive explorer of the unrolled matrix.

    max_width: the matrix panel's largest width in pixels.
    Returns an ipywidgets.VBox with attributes `controls` (dict of the dims, size, kernel_size,
    stride and padding widgets), `panels` (dict of the matrix and kernel ipywidgets.Image) and
    `summary` (ipywidgets.HTML). Any control change redraws; impossible settings are explained in
    `summary` and leave the panels as they were.
    """
    controls = _make_controls()
    panels = {name: widgets.Image(format="png") for name in PANEL_NAMES}
    summary_html = widgets.HTML()

    def draw():
        """Render the current control values, the size slider fitted to the dimension first."""
        dims = controls["dims"].value
        controls["size"].description = "n" if dims == "1-D" else "side"
        controls["size"].max = MAX_SIZE[dims]
        values = {name: control.value for name, control in controls.items()}
        return render(max_width=max_width, **values)

    rows = [
        controls["dims"],
        widgets.HBox([controls["size"], controls["kernel_size"]]),
        widgets.HBox([controls["stride"], controls["padding"]]),
        widgets.HBox([panel_column("kernel (one colour per weight)", panels["kernel"],
                                   layout=widgets.Layout(margin="0 32px 0 0")),
                      panel_column("unrolled matrix M: rows = outputs, columns = inputs, "
                                   "white = 0", panels["matrix"])]),
        summary_html,
    ]
    return explorer(rows, controls, panels, summary_html, draw, catch=(ValueError,))
