"""Shared machinery of the notebook builders (``_build_*.py``).

Each builder lists its cells with :func:`md` and :func:`code` on a
:class:`Notebook`, then calls :meth:`Notebook.main`, which writes the
``.ipynb`` (and by default executes it first, saving the outputs).  Keeping
the cells in ordinary Python makes the notebooks reviewable as code.
"""

import argparse
import pathlib
import time

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = pathlib.Path(__file__).resolve().parent


def _drop_kernel_chatter(nb):
    """Remove the kernel's own log lines (not the notebook's output) from stderr."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                out["text"] = "".join(line for line in out["text"].splitlines(True)
                                      if "[IPKernelApp]" not in line)
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs
                            if not (o.get("output_type") == "stream" and not o.get("text"))]


class Notebook:
    def __init__(self, filename):
        self.target = HERE / filename
        self.cells = []

    def md(self, text):
        self.cells.append(new_markdown_cell(text.strip("\n")))

    def code(self, text):
        self.cells.append(new_code_cell(text.strip("\n")))

    def build(self):
        nb = new_notebook(cells=self.cells)
        for i, cell in enumerate(nb.cells):   # stable ids keep rebuilds diff-friendly
            cell.id = f"cell-{i:02d}"
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        return nb

    def main(self, description):
        parser = argparse.ArgumentParser(description=description)
        parser.add_argument("--no-run", action="store_true", help="write without executing")
        opts = parser.parse_args()
        nb = self.build()
        nbformat.validate(nb)
        if not opts.no_run:
            import nbclient
            t0 = time.perf_counter()
            nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                    resources={"metadata": {"path": str(HERE)}}).execute()
            print(f"executed in {time.perf_counter() - t0:.1f} s")
            _drop_kernel_chatter(nb)
        nbformat.write(nb, self.target)
        print(f"wrote {self.target}")
