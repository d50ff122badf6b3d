"""The student bundle holds what students need and no solution, hidden test or instructor path."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.grader import bundle, notebooks, release

TEXT_SUFFIXES = {".py", ".ipynb", ".md", ".txt", ".yml", ".toml", ".sh", ".json", ".csv"}
# A leak is two consecutive lines of a solution or hidden test, found consecutively in a bundled
# file; single short lines ("return kernel / kernel.sum()") are too common to tell anything.
MIN_PAIR = 40


def _pairs(lines):
    lines = [line.strip() for line in lines]
    lines = [line for line in lines if line and not line.startswith("#")]
    return {(a, b) for a, b in zip(lines, lines[1:]) if len(a) + len(b) >= MIN_PAIR}


def _regions(source, begin, end):
    """Lines strictly between ``begin`` and ``end`` markers."""
    lines, inside = [], False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            lines.append(line)
    return lines


def _secret_pairs(repo):
    secrets = set()
    for assignment in release.assignments(repo):
        nb = notebooks.read(repo / "solutions" / assignment / f"{assignment}.ipynb")
        for cell in nb.cells:
            secrets |= _pairs(_regions(cell.source, "### BEGIN SOLUTION", "### END SOLUTION"))
            secrets |= _pairs(_regions(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"))
    return secrets


@pytest.fixture(scope="module")
def built(repo, tmp_path_factory):
    return bundle.build(tmp_path_factory.mktemp("bundle") / "course", repo)


def test_bundle_has_the_release_package_data_and_setup(built, repo):
    for assignment in release.assignments(repo):
        assert (built / "notebooks" / assignment / f"{assignment}.ipynb").exists()
    for name in ("requirements.txt", "environment.yml", "pyproject.toml", "scripts/open_course.sh",
                 "autograder/checking.py", "autograder/lab.py", "README.md"):
        assert (built / name).exists(), name


def test_bundle_carries_the_licences(built):
    assert "MIT License" in (built / "LICENSE").read_text()
    assert "Creative Commons Attribution 4.0" in (built / "LICENSE-CONTENT").read_text()
    assert "Attribution-ShareAlike 3.0" in (built / "data" / "LICENSE-CC-BY-SA-3.0").read_text()
    assert "LICENSE-CC-BY-SA-3.0" in (built / "data" / "README.md").read_text()
    readme = (built / "README.md").read_text()
    assert "LICENSE" in readme and "LICENSE-CONTENT" in readme


def test_students_get_no_test_tools(built):
    assert not (built / "requirements-dev.txt").exists()
    wanted = (built / "requirements.txt").read_text() + (built / "environment.yml").read_text()
    for tool in ("pytest", "playwright"):
        assert tool not in wanted, tool


def test_no_instructor_path_is_in_the_bundle(built, repo):
    folders = {str(repo), str(repo.resolve()), sys.prefix, os.path.expanduser("~")}
    found = []
    for path in built.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.relative_to(built)}: {folder}" for folder in folders
                      if folder.encode() in data]
    assert not found, found


def test_bundle_has_no_solutions_tests_or_instructor_modules(built):
    assert not (built / "solutions").exists() and not (built / "tests").exists()
    assert not (built / "nbgrader_config.py").exists()
    assert not (built / "autograder" / bundle.GRADER_PACKAGE).exists()


def test_no_solution_or_hidden_test_line_is_in_the_bundle(built, repo):
    secrets = _secret_pairs(repo)
    assert len(secrets) > 50, "the leak check found too few lines to look for"
    leaks = []
    for path in built.rglob("*"):
        if path.is_file() and path.suffix in TEXT_SUFFIXES:
            text = path.read_text(errors="replace")
            found = _pairs(text.replace("\\n", "\n").splitlines()) & secrets
            leaks += [f"{path.relative_to(built)}: {pair[0]} / {pair[1]}" for pair in sorted(found)]
            for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"):
                if marker in text:
                    leaks.append(f"{path.relative_to(built)}: contains '{marker}'")
    assert not leaks, "\n".join(leaks[:20])


def test_the_bundled_package_imports_without_instructor_modules(built):
    modules = sorted(p.stem for p in (built / "autograder").glob("*.py") if p.stem != "__init__")
    # An editable install of the repository can still supply a module the bundle lacks, so the
    # check is where every imported ``autograder`` module came from, not only that imports work.
    code = ("import importlib, sys\n"
            "for m in %r:\n    importlib.import_module('autograder.' + m)\n"
            "for name, module in sorted(sys.modules.items()):\n"
            "    if name.split('.')[0] == 'autograder':\n"
            "        print(name, getattr(module, '__file__', None))" % modules)
    env = {"PYTHONPATH": str(built), "MPLCONFIGDIR": os.environ["MPLCONFIGDIR"]}
    result = subprocess.run([sys.executable, "-c", code], cwd=built, capture_output=True, text=True,
                            env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert "autograder" in imported
    outside = {name: path for name, path in imported.items()
               if path != "None" and not path.startswith(str(built))}
    assert not outside, f"modules imported from outside the bundle: {outside}"


def _bundle_command(out, *options):
    return subprocess.run([sys.executable, "-m", "autograder.grader.bundle", str(out), *options],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])


def test_a_folder_the_command_did_not_write_is_refused_and_kept(tmp_path):
    out = tmp_path / "course"
    out.mkdir()
    (out / "syllabus.txt").write_text("week 1: convolution")
    result = _bundle_command(out, "--zip")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "not empty" in result.stderr
    assert [p.name for p in out.iterdir()] == ["syllabus.txt"]
    assert (out / "syllabus.txt").read_text() == "week 1: convolution"
    assert not (tmp_path / "course.zip").exists()


def test_the_repository_and_its_parents_are_refused(repo):
    for target in (repo, repo.parent, repo / "notebooks", repo / "data" / "bundle"):
        with pytest.raises(bundle.BundleError):
            bundle.check_target(target, repo)


def test_an_earlier_bundle_is_replaced_and_the_zip_has_one_top_level_folder(tmp_path):
    out = tmp_path / "cnn-course"
    out.mkdir()  # an empty folder is accepted
    assert _bundle_command(out).returncode == 0
    (out / "notebooks" / "stale.ipynb").write_text("{}")
    result = _bundle_command(out, "--zip")
    assert result.returncode == 0, result.stderr
    assert not (out / "notebooks" / "stale.ipynb").exists()
    with zipfile.ZipFile(tmp_path / "cnn-course.zip") as archive:
        names = archive.namelist()
    assert names and all(name.startswith("cnn-course/") for name in names)
    assert "cnn-course/notebooks/01_convolution/01_convolution.ipynb" in names
    assert not any(name.endswith(bundle.MARKER) for name in names)
