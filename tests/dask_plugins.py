"""A Dask worker preload for the tests: a worker that dies as it starts grading some students.

    dask worker tcp://HOST:PORT --preload dask_plugins   # with tests/ on PYTHONPATH

``CLASSGRADE_TEST_DEATHS`` names a folder. A worker exits (``os._exit(1)``, as a crash would)
when it starts the task of student ``killer_always``, every time, and of ``killer_once`` the
first time only (a marker file in that folder). Each death is first appended to ``deaths.txt``
there, one student per line.
"""
import os
from pathlib import Path

from distributed import WorkerPlugin

ALWAYS, ONCE = "killer_always", "killer_once"


class DieOnStart(WorkerPlugin):
    name = "classgrade-test-die-on-start"

    def __init__(self, folder):
        self.folder = Path(folder)

    def transition(self, key, start, finish, **kwargs):
        # classgrade's keys are (run, student) tuples.
        if finish != "executing" or not isinstance(key, tuple) or len(key) != 2:
            return
        student = key[1]
        marker = self.folder / f"{student}.started"
        if student == ALWAYS or (student == ONCE and not marker.exists()):
            marker.touch()
            with open(self.folder / "deaths.txt", "a", encoding="utf-8") as deaths:
                deaths.write(student + "\n")
            os._exit(1)


async def dask_setup(worker):
    await worker.plugin_add(DieOnStart(os.environ["CLASSGRADE_TEST_DEATHS"]))
