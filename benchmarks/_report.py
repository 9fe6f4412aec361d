"""Printing tables and writing results; shared by every suite."""

import datetime
import hashlib
import json
import os
import platform
import sys


def log(msg):
    """A progress line on stderr (tables go to stdout)."""
    print(msg, file=sys.stderr, flush=True)

__all__ = ["environment", "format_table", "fmt_us", "fmt_ratio", "write_json", "RESULTS_DIR"]

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def environment():
    import numba
    import numpy
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    try:
        import dualdiff
        info["dualdiff"] = getattr(dualdiff, "__version__", "?")
        info.update(_source_fingerprint(os.path.dirname(dualdiff.__file__)))
    except Exception:  # the environment line must never fail
        pass
    return info


def _source_fingerprint(package_dir):
    """A hash of the package's .py files and the time of the newest edit, so a
    result can be tied to the code it measured (the tree changes often)."""
    digest = hashlib.sha256()
    newest = 0.0
    for root, dirs, files in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                digest.update(os.path.relpath(path, package_dir).encode())
                with open(path, "rb") as fh:
                    digest.update(fh.read())
                newest = max(newest, os.path.getmtime(path))
    when = datetime.datetime.fromtimestamp(newest, datetime.timezone.utc)
    return {"dualdiff_source_sha256": digest.hexdigest()[:16],
            "dualdiff_source_newest_edit": when.isoformat(timespec="seconds")}


def fmt_us(seconds):
    us = seconds * 1e6
    if us >= 1000:
        return f"{us:,.0f}"
    if us >= 10:
        return f"{us:.1f}"
    if us >= 0.1:
        return f"{us:.3f}"
    return f"{us:.4f}"


def fmt_ratio(r):
    if r is None:
        return ""
    if r >= 100:
        return f"{r:.0f}x"
    if r >= 10:
        return f"{r:.1f}x"
    return f"{r:.2f}x"


def format_table(headers, rows, align=None):
    """Plain-text table; ``align`` is a string of 'l'/'r' per column."""
    rows = [[str(c) for c in r] for r in rows]
    align = align or "l" * len(headers)
    widths = [max([len(h)] + [len(r[i]) for r in rows if r]) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w)
                         for c, w, a in zip(cells, widths, align)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    for r in rows:
        out.append("" if not r else line(r))
    return "\n".join(out)


def write_json(name, payload):
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    with open(path, "w") as fh:
        json.dump(payload, fh, indent=2, sort_keys=False)
        fh.write("\n")
    return path
