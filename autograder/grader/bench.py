"""Measure the course against its budgets (COURSE.md) and write the table into the README.

    python -m autograder.grader.bench                 # everything, README updated
    python -m autograder.grader.bench --only im2col   # one part, printed only: notebooks, autograde,
                                               # class, dask, widgets, im2col, convnet

Parts: each solution notebook executed headless (wall time, peak memory of its kernel); the
autograde of one student's whole course, per notebook, with the grading engine's account of its
time and beside nbgrader's own execute step (the engine's overhead); a class of 30 synthetic
students (solutions, blank releases and mutants) through ``autograder.grader.classgrade``; the
notebooks ``classgrade`` grades per minute on a local Dask cluster of one and of two workers; the
redraw latency of every widget (callback time of one control change); the reference
``conv2d_im2col`` against PyTorch's own im2col path and its default ``conv2d``; one MNIST epoch of
notebook 10's reference NumPy network beside the same network in PyTorch. Timings are medians of
repeats where repeats are cheap. Instructor-side: it reads the reference solutions from
``solutions/``.
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder.grader import im2col_timing, notebooks, release

REPO = release.REPO_ROOT
README = REPO / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
BUDGETS = {"notebook": 60.0, "course": 300.0, "autograde": 120.0, "widget": 0.100, "im2col": 1.5,
           "convnet": 3.0}

_EXECUTE = """
import json, resource, sys, time
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
start = time.perf_counter()
NotebookClient(nb, timeout=600, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[2]}}).execute()
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "peak_bytes": peak}))
"""


def machine():
    """One line describing this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}"


def _env():
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def notebook_times():
    """``{assignment: (seconds, peak kernel bytes)}`` for each solution notebook."""
    results = {}
    for assignment in release.assignments():
        path = REPO / "solutions" / assignment / f"{assignment}.ipynb"
        with tempfile.TemporaryDirectory() as cwd:
            out = subprocess.run([sys.executable, "-c", _EXECUTE, str(path), cwd], check=True,
                                 capture_output=True, text=True, env=_env())
        measured = json.loads(out.stdout.strip().splitlines()[-1])
        results[assignment] = (measured["seconds"], measured["peak_bytes"])
    return results


# nbgrader's own pipeline, the baseline of the engine's overhead: its execute step runs every
# cell, the test cells too, in one unsandboxed kernel.
STOCK_AUTOGRADE = {"Autograde": {"autograde_preprocessors": [
    "nbgrader.preprocessors.Execute", "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades", "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata"]}}


def _autograde_course(overrides=None):
    """``{assignment: (wall seconds, graded notebook's metadata)}`` for one student's course."""
    from autograder.grader.grading import Course
    from autograder.grader.session import METADATA_KEY

    measured = {}
    with tempfile.TemporaryDirectory() as root:
        course = Course(root, REPO / "solutions", overrides)
        for assignment in release.assignments():
            course.submit(assignment, "student", {
                f"{assignment}.ipynb": REPO / "solutions" / assignment / f"{assignment}.ipynb"})
        for assignment in release.assignments():
            start = time.perf_counter()
            result = course.autograde(assignment, "student")
            seconds = time.perf_counter() - start
            if result.score != result.max_score:
                raise RuntimeError(f"the reference of {assignment} scored {result.score} of "
                                   f"{result.max_score}:\n{result.log}")
            graded = notebooks.read(Path(root) / "autograded" / "student" / assignment
                                    / f"{assignment}.ipynb")
            measured[assignment] = (seconds, dict(graded.metadata.get(METADATA_KEY, {})))
    return measured


def autograde_one_student():
    """The autograde of one student's whole course (the reference solutions), per notebook.

    ``{assignment: {"seconds", "stock_seconds", "kernel", "student cells", "test cells",
    "requests"}}``: the wall time of ``nbgrader autograde`` with the course's grading engine and
    with nbgrader's own execute step (``STOCK_AUTOGRADE``), and the engine's own account of where
    its time went (starting the sandboxed kernel, the student's cells, the test cells in the
    checker with their round trips to the kernel) and how many requests the test cells sent.
    """
    engine, stock = _autograde_course(), _autograde_course(STOCK_AUTOGRADE)
    return {assignment: {"seconds": seconds, "stock_seconds": stock[assignment][0],
                         **meta["seconds"], "requests": meta["kernel_requests"]}
            for assignment, (seconds, meta) in engine.items()}


def _mutants(assignment):
    sys.path.insert(0, str(REPO / "tests"))
    try:
        import mutants
        return mutants.for_assignment(assignment)
    finally:
        sys.path.remove(str(REPO / "tests"))


def synthetic_class(folder, size=30):
    """Write ``size`` students: a third solutions, a third blank releases, a third mutants."""
    for number in range(size):
        student = f"student{number:02d}"
        for assignment in release.assignments():
            filename = f"{assignment}.ipynb"
            target = Path(folder) / student / assignment
            target.mkdir(parents=True)
            source = notebooks.read(REPO / "solutions" / assignment / filename)
            released = notebooks.read(REPO / "notebooks" / assignment / filename)
            kind = number % 3
            if kind == 0:
                submitted = notebooks.with_solutions(released, notebooks.solution_sources(source))
            elif kind == 1:
                submitted = released
            else:
                catalogue = _mutants(assignment)
                submitted = catalogue[number % len(catalogue)].submission(released, source)
            notebooks.write(submitted, target / filename)


def grade_class_time(size=30):
    """Seconds for ``autograder.grader.classgrade`` to grade ``size`` synthetic students, all notebooks."""
    from autograder.grader import classgrade

    with tempfile.TemporaryDirectory() as folder:
        synthetic_class(Path(folder) / "submissions", size)
        start = time.perf_counter()
        classgrade.grade_class(Path(folder) / "submissions", Path(folder) / "out", jobs=2,
                               progress=False)
        return time.perf_counter() - start


DASK_STUDENTS, DASK_ASSIGNMENTS = 6, ("02_output_size", "05_pooling")


def dask_scaling(workers=(1, 2)):
    """``{workers: notebooks graded per minute}`` by ``classgrade`` on a local Dask cluster.

    The same ``DASK_STUDENTS`` synthetic students' ``DASK_ASSIGNMENTS`` each time, graded from
    scratch (a new results folder), the cluster's start and shutdown included.
    """
    from autograder.grader import classgrade

    rates = {}
    with tempfile.TemporaryDirectory() as folder:
        synthetic_class(Path(folder) / "submissions", DASK_STUDENTS)
        for count in workers:
            start = time.perf_counter()
            classgrade.grade_class(Path(folder) / "submissions", Path(folder) / f"out{count}",
                                   jobs=count, assignments=list(DASK_ASSIGNMENTS), progress=False)
            minutes = (time.perf_counter() - start) / 60
            rates[count] = DASK_STUDENTS * len(DASK_ASSIGNMENTS) / minutes
    return rates


WIDGET_IMPORT = re.compile(r"from (autograder\.widgets\.\w+) import (\w+)")


def widget_factories():
    """``{"module.function": factory}`` for the widget each release notebook shows."""
    import importlib

    found = {}
    for assignment in release.assignments():
        nb = notebooks.read(REPO / "notebooks" / assignment / f"{assignment}.ipynb")
        for cell in nb.cells:
            match = WIDGET_IMPORT.search(cell.source) if cell.cell_type == "code" else None
            if match:
                module, function = match.groups()
                found[f"{module.rsplit('.', 1)[1]}.{function}"] = getattr(
                    importlib.import_module(module), function)
    return found


def widget_latencies(repeats=5):
    """``{widget: median seconds}`` of one control change, for every widget of the course."""
    results = {}
    for name, factory in widget_factories().items():
        box = factory()
        times = []
        for control in box.controls.values():
            options = _values(control)
            for value in options[:repeats]:
                start = time.perf_counter()
                control.value = value
                times.append(time.perf_counter() - start)
        results[name] = statistics.median(times) if times else float("nan")
    return results


def _values(control):
    """A few values to set on a control, different from its current one."""
    if hasattr(control, "options") and control.options:
        labels = list(getattr(control, "_options_values", None) or control.options)
        return [v for v in labels if v != control.value][:3]
    if hasattr(control, "max") and hasattr(control, "min"):
        step = getattr(control, "step", 1) or 1
        span = [control.min + step * k for k in range(1, 4)]
        return [v for v in span if control.min <= v <= control.max and v != control.value]
    return []


def im2col_against_torch():
    """The measurements of ``autograder.grader.im2col_timing``, run where OpenBLAS picks its own kernel.

    Some machines set ``OPENBLAS_CORETYPE`` (with ``OPENBLAS_L2_SIZE``) to work around old
    OpenBLAS builds; that pins NumPy to older kernels while PyTorch's oneDNN still reads the
    processor. The child process runs without both, and the table names the kernel it got.
    """
    env = {name: value for name, value in _env().items()
           if name not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    out = subprocess.run([sys.executable, "-m", "autograder.grader.im2col_timing"], check=True,
                         capture_output=True, text=True, env=env, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def convnet_epoch(batch_size=64, lr=0.05, momentum=0.9, chunk=50):
    """One MNIST epoch of notebook 10's reference network in NumPy beside the same network in PyTorch.

    The reference is the solution cells of ``solutions/10_convnet`` (``ConvNet`` in float32, as its
    ``train`` casts it, stepped by its ``sgd_momentum_step``); the other is
    ``autograder.convnet.torch_convnet()`` with ``torch.optim.SGD``. Both start from the same
    weights and take the same batches (one random order of the 60,000 training digits, batches of
    ``batch_size``), each on one thread (one BLAS thread for NumPy, ``torch.set_num_threads(1)``
    for PyTorch). They take turns every ``chunk`` steps, so a busy machine slows both alike.
    Returns a dict: "numpy" and "torch" (wall seconds), "numpy_cpu" and "torch_cpu" (CPU seconds
    of the training thread), "numpy_accuracy" and "torch_accuracy" (on the 10,000 test digits
    after the epoch), "steps".
    """
    import numpy as np
    import torch
    import torch.nn.functional as F
    from threadpoolctl import threadpool_limits

    from autograder.convnet import load_params, torch_convnet
    from autograder.data import load_mnist

    source = notebooks.read(REPO / "solutions" / "10_convnet" / "10_convnet.ipynb")
    reference = notebooks.solution_namespace(source, {"np": np})
    images, labels = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    x_train, x_test = images[:, None] / np.float32(255), test_images[:, None] / np.float32(255)
    model = reference["ConvNet"](seed=0)
    model.params = {name: value.astype(np.float32) for name, value in model.params.items()}
    net = load_params(torch_convnet(), model.params)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    x_torch, y_torch = torch.from_numpy(x_train), torch.from_numpy(labels)
    velocity = {}
    order = np.random.default_rng(0).permutation(len(x_train))
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]

    def numpy_steps(part):
        for batch in part:
            _, grads = model.loss(x_train[batch], labels[batch])
            reference["sgd_momentum_step"](model.params, grads, velocity, lr, momentum)

    def torch_steps(part):
        for batch in part:
            index = torch.from_numpy(batch)
            loss = F.cross_entropy(net(x_torch[index]), y_torch[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    totals = {"numpy": 0.0, "torch": 0.0, "numpy_cpu": 0.0, "torch_cpu": 0.0}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1, user_api="blas"):
            for start in range(0, len(batches), chunk):
                for name, steps in (("numpy", numpy_steps), ("torch", torch_steps)):
                    wall, cpu = time.perf_counter(), time.thread_time()
                    steps(batches[start:start + chunk])
                    totals[name] += time.perf_counter() - wall
                    totals[f"{name}_cpu"] += time.thread_time() - cpu
            totals["numpy_accuracy"] = float(np.mean(model.predict(x_test) == test_labels))
            with torch.no_grad():
                scores = net(torch.from_numpy(x_test))
            totals["torch_accuracy"] = float((scores.argmax(dim=1).numpy() == test_labels).mean())
    finally:
        torch.set_num_threads(threads)
    totals["steps"] = len(batches)
    return totals


def _verdict(value, budget):
    return "within budget" if value <= budget else "**over budget**"


def table(parts):
    """The markdown table of the measured parts."""
    rows = ["| what | measured | budget | |", "| --- | --- | --- | --- |"]
    if "notebooks" in parts:
        total = 0.0
        for assignment, (seconds, peak) in parts["notebooks"].items():
            total += seconds
            rows.append(f"| execute `{assignment}` headless | {seconds:.1f} s, kernel peak "
                        f"{peak / 2 ** 20:.0f} MiB | {BUDGETS['notebook']:.0f} s | "
                        f"{_verdict(seconds, BUDGETS['notebook'])} |")
        rows.append(f"| execute the whole course | {total:.1f} s | {BUDGETS['course']:.0f} s | "
                    f"{_verdict(total, BUDGETS['course'])} |")
    if "autograde" in parts:
        measured = parts["autograde"]
        for assignment, m in measured.items():
            rows.append(f"| autograde `{assignment}` | {m['seconds']:.1f} s: kernel start "
                        f"{m['kernel']:.1f} s, student cells {m['student cells']:.1f} s, test "
                        f"cells {m['test cells']:.1f} s ({m['requests']} requests to the kernel); "
                        f"nbgrader's own execute step {m['stock_seconds']:.1f} s | | |")
        seconds = sum(m["seconds"] for m in measured.values())
        stock = sum(m["stock_seconds"] for m in measured.values())
        rows.append(f"| autograde one student's whole course | {seconds:.1f} s; nbgrader's own "
                    f"execute step {stock:.1f} s ({seconds - stock:+.1f} s) | "
                    f"{BUDGETS['autograde']:.0f} s | {_verdict(seconds, BUDGETS['autograde'])} |")
    if "class" in parts:
        rows.append(f"| grade a class of 30 synthetic students (2 workers) | "
                    f"{parts['class'] / 60:.1f} min | | |")
    if "dask" in parts:
        rates = parts["dask"]
        for count, rate in rates.items():
            scaling = f" ({rate / rates[1]:.2f}x one worker's)" if count != 1 and 1 in rates else ""
            rows.append(f"| classgrade on a local Dask cluster of {count} worker process"
                        f"{'es' if count != 1 else ''}, notebooks graded per minute "
                        f"({DASK_STUDENTS} synthetic students, {' and '.join(DASK_ASSIGNMENTS)}) | "
                        f"{rate:.1f}{scaling} | | |")
    if "widgets" in parts:
        for name, seconds in parts["widgets"].items():
            rows.append(f"| widget `{name}` redraw (callback) | {1000 * seconds:.0f} ms | "
                        f"{1000 * BUDGETS['widget']:.0f} ms | {_verdict(seconds, BUDGETS['widget'])} |")
    if "im2col" in parts:
        measured = parts["im2col"]

        def speed(seconds):
            return f"{1000 * seconds:.1f} ms ({im2col_timing.FLOPS / seconds / 1e9:.0f} GFLOP/s)"

        for dtype in ("float32", "float64"):
            times = measured[dtype]
            ratio = times["reference"] / times["torch_im2col"]
            rows.append(f"| reference `conv2d_im2col` vs PyTorch's im2col path (`conv2d`, oneDNN "
                        f"off), {dtype} (NumPy's OpenBLAS kernel: {measured['kernel']}) | "
                        f"{speed(times['reference'])} vs {speed(times['torch_im2col'])}: "
                        f"{ratio:.2f}x; PyTorch's default kernel: {speed(times['torch'])} | "
                        f"{BUDGETS['im2col']}x | {_verdict(ratio, BUDGETS['im2col'])} |")
    if "convnet" in parts:
        measured = parts["convnet"]
        ratio = measured["numpy"] / measured["torch"]
        rows.append(f"| one MNIST epoch of notebook 10's reference NumPy `ConvNet` vs the same network "
                    f"in PyTorch (same weights and {measured['steps']} batches, one thread each) | "
                    f"{measured['numpy']:.1f} s vs {measured['torch']:.1f} s ({ratio:.2f}x); test "
                    f"accuracy {measured['numpy_accuracy']:.2%} vs {measured['torch_accuracy']:.2%} | "
                    f"{BUDGETS['convnet']:.0f}x | {_verdict(ratio, BUDGETS['convnet'])} |")
    return "\n".join(rows)


def update_readme(text):
    """Replace the README's benchmark section (between the bench markers) by ``text``."""
    readme = README.read_text()
    if START not in readme or END not in readme:
        raise RuntimeError(f"README.md lacks the markers {START} / {END}")
    head, rest = readme.split(START, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(f"{head}{START}\n{text}\n{END}{tail}")


PARTS = {"notebooks": notebook_times, "autograde": autograde_one_student, "class": grade_class_time,
         "dask": dask_scaling, "widgets": widget_latencies, "im2col": im2col_against_torch,
         "convnet": convnet_epoch}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(PARTS), help="measure only these")
    parser.add_argument("--no-readme", action="store_true", help="print, do not update README.md")
    # A partial run never replaces the README's table.
    args = parser.parse_args(argv)
    parts = {name: PARTS[name]() for name in (args.only or PARTS)}
    text = (f"Measured {time.strftime('%Y-%m-%d')} by `python -m autograder.grader.bench` on "
            f"{machine()}.\n\n{table(parts)}")
    print(text)
    if not (args.no_readme or args.only):
        update_readme(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
