"""Generate the student release ``notebooks/`` from ``solutions/`` with nbgrader.

    python -m autograder.grader.release                   # regenerate notebooks/ for every assignment
    python -m autograder.grader.release 01_convolution    # regenerate one assignment
    python -m autograder.grader.release --check           # exit 1 if notebooks/ is out of date
    python -m autograder.grader.release --register        # record every assignment in gradebook.db
    python -m autograder.grader.release --register --course-dir DIR   # in another course directory

To regenerate or check, nbgrader runs in a temporary course directory (its gradebook never lands
in the repository), with the course's own configuration (``autograder.grader.course_config``).
``--register`` is the one step a fresh clone needs before ``nbgrader autograde``: nbgrader only
grades an assignment its gradebook knows, and the gradebook (git-ignored) learns it from
``nbgrader generate_assignment``. It runs that for every assignment (or those named) in the
repository's course directory, with a temporary release folder: ``notebooks/`` is not touched.
"""
import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

from autograder.grader.course_config import RELEASE_DIRECTORY, SOURCE_DIRECTORY, configure

REPO_ROOT = Path(__file__).resolve().parents[2]


def assignments(repo_root=REPO_ROOT):
    """The assignment names: the folders of ``solutions/``, in order."""
    return sorted(p.name for p in (Path(repo_root) / SOURCE_DIRECTORY).iterdir() if p.is_dir())


def nbgrader_api(course_root, overrides=None):
    """An ``NbGraderAPI`` on ``course_root`` with the course configuration.

    ``overrides`` (``{section: {trait: value}}``) is applied on top, e.g. a shorter cell timeout.
    """
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    bin_dir = os.path.dirname(sys.executable)  # gradebook creation runs the alembic executable
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    config = configure(Config(), course_root)
    for section, values in (overrides or {}).items():
        for trait, value in values.items():
            setattr(config[section], trait, value)
    return NbGraderAPI(config=config)


def generate(out_dir, repo_root=REPO_ROOT, names=None):
    """Run ``nbgrader generate_assignment`` for ``names`` (default: all) into ``out_dir``.

    Returns ``out_dir`` as a Path holding ``<assignment>/<assignment>.ipynb`` for each.
    """
    out_dir = Path(out_dir)
    names = names or assignments(repo_root)
    with tempfile.TemporaryDirectory(prefix="nbgrader-course-") as course:
        api = nbgrader_api(course)
        for name in names:
            shutil.copytree(Path(repo_root) / SOURCE_DIRECTORY / name,
                            Path(course) / SOURCE_DIRECTORY / name)
            result = api.generate_assignment(name, force=True)
            if not result["success"]:
                raise RuntimeError(f"nbgrader generate_assignment {name} failed:\n{result['log']}"
                                   f"\n{result['error']}")
            target = out_dir / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(Path(course) / RELEASE_DIRECTORY / name, target)
    return out_dir


def register(course_root=REPO_ROOT, names=None, only_missing=False):
    """Record ``names`` (default: all) in the gradebook of the course directory ``course_root``.

    Runs ``nbgrader generate_assignment`` there (it stores each notebook's cells, points and
    hidden tests in the gradebook) with the release written to a temporary folder. With
    ``only_missing``, assignments the gradebook already has are left as they are. Returns the
    names registered.
    """
    from nbgrader.api import Gradebook, MissingEntry

    course_root = Path(course_root).resolve()
    names = list(names or assignments(course_root))
    with tempfile.TemporaryDirectory(prefix="nbgrader-release-") as scratch:
        api = nbgrader_api(course_root, {"CourseDirectory": {"release_directory": scratch}})
        if only_missing:
            with Gradebook(api.coursedir.db_url) as gradebook:
                known = []
                for name in names:
                    try:
                        gradebook.find_assignment(name)
                        known.append(name)
                    except MissingEntry:
                        pass
            names = [name for name in names if name not in known]
        for name in names:
            result = api.generate_assignment(name, force=True)
            if not result["success"]:
                raise RuntimeError(f"nbgrader generate_assignment {name} failed:\n{result['log']}"
                                   f"\n{result['error']}")
    return names


def comparable(path):
    """What must agree between a committed and a regenerated release notebook."""
    nb = nbformat.read(path, as_version=4)
    return {
        "metadata": {k: v for k, v in nb.metadata.items() if k != "language_info"},
        "cells": [(c.cell_type, c.source, c.metadata.get("nbgrader"), c.metadata.get("tags"))
                  for c in nb.cells],
    }


def out_of_date(repo_root=REPO_ROOT):
    """The release notebooks that differ from a fresh generation (paths relative to the repo)."""
    repo_root = Path(repo_root)
    with tempfile.TemporaryDirectory() as fresh:
        generate(fresh, repo_root)
        fresh_files = {p.relative_to(fresh) for p in Path(fresh).rglob("*.ipynb")}
        committed = repo_root / RELEASE_DIRECTORY
        committed_files = {p.relative_to(committed) for p in committed.rglob("*.ipynb")
                           if ".ipynb_checkpoints" not in p.parts}
        stale = sorted(str(p) for p in fresh_files ^ committed_files)
        stale += sorted(str(p) for p in fresh_files & committed_files
                        if comparable(Path(fresh) / p) != comparable(committed / p))
    return stale


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="assignments to regenerate (default: all)")
    parser.add_argument("--check", action="store_true", help="only report out-of-date notebooks")
    parser.add_argument("--register", action="store_true",
                        help="record the assignments in the course directory's gradebook.db")
    parser.add_argument("--course-dir", default=str(REPO_ROOT),
                        help="the course directory for --register (default: this repository)")
    args = parser.parse_args(argv)
    if args.check:
        stale = out_of_date()
        for path in stale:
            print(f"out of date: {RELEASE_DIRECTORY}/{path}")
        if not stale:
            print(f"{RELEASE_DIRECTORY}/ is up to date with {SOURCE_DIRECTORY}/ "
                  f"({len(assignments())} assignments)")
        return 1 if stale else 0
    if args.register:
        names = register(args.course_dir, names=args.names or None)
        print(f"registered in {Path(args.course_dir) / 'gradebook.db'}: {', '.join(names)}")
        return 0
    generate(REPO_ROOT / RELEASE_DIRECTORY, names=args.names or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
