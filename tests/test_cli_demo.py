"""The front door: ``python -m dualdiff`` runs the demo and exits 0."""

import subprocess
import sys

import dualdiff.cli.demo as cli


def test_demo_runs_in_process_and_reports_exact_derivatives():
    lines = []
    assert cli.demo(out=lines.append) == 0
    text = "\n".join(lines)
    assert "Rosenbrock" in text and "Broyden" in text
    # the AD column of the scalar table shows zero error against the closed form
    table = [ln for ln in lines if ln.strip().startswith(("-1.00", "0.70"))]
    assert table and all(ln.split()[3] == "0.0e+00" for ln in table)


def test_unknown_command_exits_2():
    result = subprocess.run([sys.executable, "-m", "dualdiff", "frobnicate"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "unknown command" in result.stderr
    assert "Traceback" not in result.stderr
