"""Build the student bundle: what students get, and nothing an instructor keeps to themselves.

    python -m autograder.grader.bundle OUT            # a folder
    python -m autograder.grader.bundle OUT --zip      # and OUT.zip, whose top-level folder is OUT's name

The bundle holds the release notebooks, the student part of this package (checks, widgets, data
loading), the data, the licences, what students install (``requirements.txt``, not the test
tools of ``requirements-dev.txt``) and the set-up scripts. It leaves out the solutions, the tests
and the package's grader-only folder ``autograder/grader/`` (instructors' tools, hidden checks
and their oracles).

``OUT`` must be a new or empty folder, or a bundle this command wrote before (it leaves a
``.cnn-course-bundle`` marker), which is then replaced: any other folder is refused, never
emptied.
"""
import argparse
import shutil
import sys
import zipfile
from pathlib import Path

from autograder.grader.release import REPO_ROOT

# Files copied as they are, relative to the repository.
FILES = ("requirements.txt", "requirements-nodeps.txt", "environment.yml", "pyproject.toml",
         "scripts/setup.sh", "scripts/open_course.sh", "LICENSE", "LICENSE-CONTENT")
FOLDERS = ("notebooks", "data")
PACKAGE = "autograder"
# Written into every bundle: a folder holding it may be replaced by the next build.
MARKER = ".cnn-course-bundle"
# The package's grader-only folder: instructors' tools, hidden checks and their oracles.
GRADER_PACKAGE = "grader"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")

STUDENT_README = """# Convolutional neural networks: the course notebooks

Set up and open the course (Python 3.11, about 6 GB of disk for PyTorch):

    bash scripts/open_course.sh

Your notebooks are in `notebooks/`. In each, run the first code cell first, then work through the
exercises: replace `raise NotImplementedError()` with your code and run the test cell below it.
When you submit, the same cells also run hidden tests.

Licences: the code is MIT (`LICENSE`), the text and figures CC BY 4.0 (`LICENSE-CONTENT`), the
data as `data/README.md` says.
"""


class BundleError(Exception):
    """The output folder cannot safely receive the bundle."""


def check_target(out, repo_root=REPO_ROOT):
    """Refuse an ``out`` that is not a new or empty folder or an earlier bundle."""
    out, repo_root = Path(out).resolve(), Path(repo_root).resolve()
    if out == repo_root or out in repo_root.parents:
        raise BundleError(f"{out} holds the repository; choose a new folder")
    for name in (*FOLDERS, PACKAGE):
        if out == repo_root / name or (repo_root / name) in out.parents:
            raise BundleError(f"{out} is inside the repository's {name}/; choose another folder")
    if out.exists() and not out.is_dir():
        raise BundleError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise BundleError(f"{out} is not empty and is not a bundle this command wrote; "
                          "choose a new or empty folder")


def build(out, repo_root=REPO_ROOT):
    """Write the student bundle into the folder ``out``; return it.

    ``out`` must be new, empty or an earlier bundle (replaced); otherwise ``BundleError``.
    """
    check_target(out, repo_root)
    out, repo_root = Path(out), Path(repo_root)
    if (out / MARKER).is_file():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("Written by python -m autograder.grader.bundle; replaced by its "
                              "next run.\n")
    for name in FILES:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo_root / name, out / name)
    for name in FOLDERS:
        if (repo_root / name).is_dir():
            shutil.copytree(repo_root / name, out / name, ignore=IGNORED)
    shutil.copytree(repo_root / PACKAGE, out / PACKAGE,
                    ignore=shutil.ignore_patterns(GRADER_PACKAGE, "__pycache__", "*.pyc"))
    (out / "README.md").write_text(STUDENT_README)
    return out


def write_zip(out):
    """``OUT.zip`` beside ``out``: every file of the bundle under the top-level folder ``OUT``."""
    out = Path(out)
    archive = out.with_name(out.name + ".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        for path in sorted(out.rglob("*")):
            if path.is_file() and path.name != MARKER:
                handle.write(path, Path(out.name) / path.relative_to(out))
    return archive


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="a new or empty folder (or an earlier bundle, replaced)")
    parser.add_argument("--zip", action="store_true", help="also write OUT.zip")
    args = parser.parse_args(argv)
    try:
        out = build(args.out)
    except BundleError as error:
        parser.error(str(error))
    print(f"student bundle written to {out}")
    if args.zip:
        print(f"and zipped into {write_zip(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
