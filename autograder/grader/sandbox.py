"""The graded kernel's sandbox: Debian's bubblewrap, with a view of the machine made for it.

The student's kernel runs as an unprivileged identity (uid 65534 inside a user namespace), in its
own process namespace (every process it starts dies with it) and with no network (its only
channel to the grader is the kernel's Unix sockets in one folder bound into the sandbox). It sees:

- read-only: the system's programs and libraries, the Python installation and its packages, the
  student side of this package (``autograder/`` with ``grader/`` hidden) and ``data/``;
- writable: an empty working folder and ``/tmp``, both in memory with a size cap;
- nothing else: no course directory, solutions, gradebook, results or other students' work, no
  home folder, no ``/etc`` beyond what the dynamic linker and Python read.

Kernels run without a sandbox only if the instructor says so (``CourseExecute.sandbox = "none"``,
e.g. on macOS, where bubblewrap does not exist); the verdicts are then still computed outside the
student's process, but the student's code runs with the grader's rights.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import autograder

WORK_DIR = "/home/student"
SCRATCH_BYTES = 256 * 2 ** 20
SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib32", "/lib64", "/libx32", "/sbin")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
             "/etc/alternatives", "/etc/nsswitch.conf", "/etc/fonts")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create the namespaces it needs on this machine."""


def package_root():
    """The folder that holds the ``autograder`` package (the repository, or the student bundle)."""
    return Path(autograder.__file__).resolve().parent.parent


def _python_dirs():
    """Folders the interpreter and its packages live in (real paths, deduplicated)."""
    dirs = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
            Path(os.path.realpath(sys.executable)).parent.parent}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        dirs.add(Path(sysconfig.get_paths()[key]))
    for entry in sys.path:
        if entry and "site-packages" in entry:
            dirs.add(Path(entry))
    dirs = {Path(os.path.realpath(d)) for d in dirs if d.exists()}
    for d in list(dirs):  # keep the outermost of nested folders
        if any(other != d and other in d.parents for other in dirs):
            dirs.discard(d)
    return sorted(dirs)


def kernel_environment(work_dir=WORK_DIR, python_path=None, tmp="/tmp"):
    """The whole environment of a graded kernel: nothing of the grader's own is passed on.

    IPython, Jupyter and matplotlib keep their files in ``tmp``: the working folder stays empty.
    """
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": work_dir, "TMPDIR": tmp, "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
        "MPLCONFIGDIR": f"{tmp}/matplotlib", "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "IPYTHONDIR": f"{tmp}/ipython", "JUPYTER_CONFIG_DIR": f"{tmp}/jupyter",
        "JUPYTER_DATA_DIR": f"{tmp}/jupyter-data", "JUPYTER_RUNTIME_DIR": f"{tmp}/jupyter-runtime",
        "JUPYTER_PLATFORM_DIRS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "NBGRADER_EXECUTION": "autograde",
    }
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # machine-wide OpenBLAS workarounds
        if name in os.environ:
            env[name] = os.environ[name]
    if python_path:
        env["PYTHONPATH"] = str(python_path)
    return env


def _bind_system(args):
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in ETC_FILES:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]


def bwrap_command(ipc_dir, *, bwrap="bwrap"):
    """The ``bwrap`` arguments (up to and including ``--``) for a kernel talking through ``ipc_dir``."""
    root = package_root()
    args = [bwrap, "--unshare-user", "--uid", "65534", "--gid", "65534", "--unshare-pid",
            "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup-try",
            "--die-with-parent", "--hostname", "grading", "--clearenv",
            "--proc", "/proc", "--dev", "/dev", "--size", str(SCRATCH_BYTES), "--tmpfs", "/dev/shm",
            # the writable folders first: what is bound below may lie under /tmp
            "--size", str(SCRATCH_BYTES), "--tmpfs", "/tmp",
            "--size", str(SCRATCH_BYTES), "--tmpfs", WORK_DIR]
    _bind_system(args)
    for folder in _python_dirs():
        if root in folder.parents or folder == root:
            continue  # a virtual environment inside the course folder: bound below
        args += ["--ro-bind", str(folder), str(folder)]
    venv = Path(sys.prefix).resolve()
    if root in venv.parents:
        args += ["--ro-bind", str(venv), str(venv)]
    package = root / "autograder"
    args += ["--ro-bind", str(package), str(package), "--tmpfs", str(package / "grader")]
    if (root / "data").is_dir():
        args += ["--ro-bind", str(root / "data"), str(root / "data")]
    args += ["--bind", str(ipc_dir), str(ipc_dir), "--chdir", WORK_DIR]
    for name, value in kernel_environment(python_path=root).items():
        args += ["--setenv", name, value]
    return args + ["--"]


def unsandboxed_command(work_dir, tmp):
    """The prefix of a kernel's command line without a sandbox: only a clean environment."""
    env = kernel_environment(work_dir=str(work_dir), python_path=package_root(), tmp=str(tmp))
    return ["/usr/bin/env", "-i", *[f"{k}={v}" for k, v in env.items()]]


def kernel_argv(prefix):
    return [*prefix, sys.executable, "-P", "-m", "ipykernel_launcher", "-f", "{connection_file}",
            "--HistoryManager.hist_file=:memory:"]


def check_available(bwrap="bwrap"):
    """Raise ``SandboxUnavailable`` (saying why) unless a sandboxed Python starts here."""
    path = shutil.which(bwrap)
    if path is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed: install it (Debian/Ubuntu: apt-get install "
            "bubblewrap), or grade without a sandbox by setting CourseExecute.sandbox = 'none' "
            "in nbgrader_config.py if you accept that student code then runs with your rights")
    probe = Path(os.environ.get("TMPDIR", "/tmp"))
    command = bwrap_command(probe, bwrap=path) + [sys.executable, "-P", "-c",
                                                   "import os, numpy; print(os.getuid())"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0 or result.stdout.strip() != "65534":
        raise SandboxUnavailable(
            "bubblewrap could not start a sandboxed Python here "
            f"(exit {result.returncode}): {result.stderr.strip()[-500:]}\n"
            "Unprivileged user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone "
            "or, on Ubuntu 24.04, the AppArmor profile for bwrap); see the README.")
