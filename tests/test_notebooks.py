"""Execute every notebook in ``notebooks/``; a cell that raises fails the test.

Each notebook is its own test.  It runs top to bottom in a fresh ``python3``
kernel, with ``notebooks/`` as the working directory.  The kernel must be
the interpreter running pytest, or the notebook would test whatever dualdiff
some other environment has installed.  So a probe cell is inserted first and
the kernel's ``sys.prefix`` (and working directory) is compared with ours.
The notebook on disk is never modified.
"""

import os
import pathlib
import re
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from nbclient.exceptions import CellExecutionError  # noqa: E402

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

KERNEL_NAME = "python3"
CELL_TIMEOUT = 300  # seconds, per cell

_PROBE_SOURCE = "import os, sys\nprint(sys.prefix)\nprint(sys.executable)\nprint(os.getcwd())"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _same_path(a, b):
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def _probe_result(probe):
    text = "".join(o.get("text", "") for o in probe.outputs if o.output_type == "stream")
    lines = text.strip().splitlines()
    return tuple(lines) if len(lines) == 3 else (None, None, None)


def _check_kernel_environment(probe):
    prefix, executable, cwd = _probe_result(probe)
    if prefix is None:
        pytest.fail("the kernel did not run the environment probe cell", pytrace=False)
    if not _same_path(prefix, sys.prefix):
        pytest.fail(
            f"the {KERNEL_NAME!r} kernel runs {executable} (prefix {prefix}), "
            f"not the test interpreter {sys.executable} (prefix {sys.prefix}); "
            f"install ipykernel into this environment so that its {KERNEL_NAME!r} "
            "kernelspec is used",
            pytrace=False,
        )
    if not _same_path(cwd, NOTEBOOK_DIR):
        pytest.fail(f"the kernel ran in {cwd}, not in {NOTEBOOK_DIR}", pytrace=False)


def _failing_cell(cells):
    for index, cell in enumerate(cells):
        if cell.cell_type == "code" and any(o.output_type == "error" for o in cell.get("outputs", [])):
            return index, cell
    return None, None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)

    probe = nbformat.v4.new_code_cell(_PROBE_SOURCE)
    nb.cells.insert(0, probe)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name=KERNEL_NAME,
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        _check_kernel_environment(probe)   # a wrong kernel explains any failure
        index, _ = _failing_cell(nb.cells[1:])
        where = f"cell {index} (0-based, counting markdown cells)" if index is not None else "a cell"
        message = _ANSI.sub("", str(exc))
        pytest.fail(f"{path.name}: {where} raised:\n{message}", pytrace=False)
    _check_kernel_environment(probe)
