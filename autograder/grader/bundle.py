"""Build the student bundle: what students get, and nothing an instructor keeps to themselves.

    python -m autograder.grader.bundle OUT            # a folder
    python -m autograder.grader.bundle OUT --zip      # and OUT.zip

The bundle holds the release notebooks, the student part of this package (checks, widgets, data
loading), the data, the environment files and the set-up scripts. It leaves out the solutions,
the tests and the package's grader-only folder ``autograder/grader/`` (instructors' tools,
hidden checks and their oracles).
"""
import argparse
import shutil
import sys
from pathlib import Path

from autograder.grader.release import REPO_ROOT

# Files copied as they are, relative to the repository.
FILES = ("requirements.txt", "requirements-nodeps.txt", "environment.yml", "pyproject.toml",
         "scripts/setup.sh", "scripts/open_course.sh")
FOLDERS = ("notebooks", "data")
# The package's grader-only folder: instructors' tools, hidden checks and their oracles.
GRADER_PACKAGE = "grader"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")

STUDENT_README = """# Convolutional neural networks: the course notebooks

Set up and open the course (Python 3.11, about 6 GB of disk for PyTorch):

    bash scripts/open_course.sh

Your notebooks are in `notebooks/`. In each, run the first code cell first, then work through the
exercises: replace `raise NotImplementedError()` with your code and run the test cell below it.
When you submit, the same cells also run hidden tests.
"""


def build(out, repo_root=REPO_ROOT):
    """Write the student bundle into the folder ``out`` (replaced if it exists); return it."""
    out, repo_root = Path(out), Path(repo_root)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in FILES:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo_root / name, out / name)
    for name in FOLDERS:
        if (repo_root / name).is_dir():
            shutil.copytree(repo_root / name, out / name, ignore=IGNORED)
    shutil.copytree(repo_root / "autograder", out / "autograder",
                    ignore=shutil.ignore_patterns(GRADER_PACKAGE, "__pycache__", "*.pyc"))
    (out / "README.md").write_text(STUDENT_README)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder to write the bundle into (replaced)")
    parser.add_argument("--zip", action="store_true", help="also write OUT.zip")
    args = parser.parse_args(argv)
    out = build(args.out)
    if args.zip:
        shutil.make_archive(str(out), "zip", root_dir=out)
    print(f"student bundle written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
