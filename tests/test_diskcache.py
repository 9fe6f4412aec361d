"""The on-disk compile cache (issue 16), in fresh processes.

Each test runs a small program in new Python processes sharing one cache
folder (``DUALDIFF_CACHE_DIR``), and reads the cache's own counters
(``dd.cache.info()["this_process"]``), never timings: a second process
loads every compiled function it needs and compiles none; a change to the
function, to a global or a helper it reads, or to dualdiff itself is a miss
and a correct answer; a damaged entry is a miss, rewritten; two processes
racing on one entry both answer right.  Results are compared bit for bit.
"""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dualdiff as dd

ROOT = pathlib.Path(__file__).resolve().parents[1]

PROGRAM = textwrap.dedent('''
    import json, os, sys
    import numpy as np
    import dualdiff as dd
    if os.environ.get("STAMP"):   # as if dualdiff's sources had changed
        from dualdiff._engine import diskcache
        diskcache._stamp[:] = [os.environ["STAMP"]]
    from model import loss
    x = np.array([0.3, -1.2, 0.7, 2.0])
    out = {
        "gradient": dd.gradient(loss, x, mode="forward").tolist(),
        "reverse": dd.gradient(loss, x, mode="reverse").tolist(),
        "hessian": dd.hessian(loss, x, mode="forward").ravel().tolist(),
        "counts": dd.cache.info()["this_process"],
    }
    print(json.dumps({k: ([v.hex() for v in out[k]] if k != "counts" else out[k])
                      for k in out}))
''')

MODEL = '''
import numpy as np
from helpers import square

SCALE = {scale}


def loss(x):
    total = 0.0
    for i in range(x.shape[0] - 1):
        total += SCALE * square(x[i + 1] - x[i] ** 2) + square({body})
    return total
'''

HELPERS = '''
def square(u):
    return {square}
'''


def write_model(folder, scale="100.0", body="1.0 - x[i]", square="u * u"):
    (folder / "model.py").write_text(MODEL.format(scale=scale, body=body))
    (folder / "helpers.py").write_text(HELPERS.format(square=square))
    (folder / "program.py").write_text(PROGRAM)


def run(folder, cache, **env):
    environment = dict(os.environ)
    environment.pop("DUALDIFF_CACHE", None)
    environment.update(DUALDIFF_CACHE_DIR=str(cache), PYTHONPATH=f"{folder}{os.pathsep}{ROOT}",
                       **env)
    done = subprocess.run([sys.executable, str(folder / "program.py")], cwd=folder, env=environment,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def values(result, key):
    return np.array([float.fromhex(v) for v in result[key]])


def rosenbrock_gradient(x, scale, square_factor=1.0):
    g = np.zeros_like(x)
    for i in range(len(x) - 1):
        u, w = x[i + 1] - x[i] ** 2, 1.0 - x[i]
        g[i] += square_factor * (scale * 2 * u * (-2 * x[i]) - 2 * w)
        g[i + 1] += square_factor * scale * 2 * u
    return g


X = np.array([0.3, -1.2, 0.7, 2.0])


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A cache written by one process, and that process's results."""
    folder = tmp_path_factory.mktemp("program")
    cache = tmp_path_factory.mktemp("cache")
    write_model(folder)
    first = run(folder, cache)
    return folder, cache, first


def test_the_first_process_compiles_and_saves(warm):
    _, cache, first = warm
    counts = first["counts"]
    assert counts["loaded"] == 0 and counts["saved"] >= 4 and counts["damaged"] == 0
    assert list(pathlib.Path(cache).rglob("*.nbc"))
    np.testing.assert_allclose(values(first, "gradient"), rosenbrock_gradient(X, 100.0),
                               rtol=1e-14)


def test_a_second_process_loads_everything_and_compiles_nothing(warm):
    folder, cache, first = warm
    second = run(folder, cache)
    counts = second["counts"]
    assert counts["missed"] == 0 and counts["damaged"] == 0 and counts["saved"] == 0
    assert counts["loaded"] >= 4  # the function on duals and on Vars, and the drivers
    for key in ("gradient", "reverse", "hessian"):
        assert second[key] == first[key]  # bit for bit


@pytest.mark.parametrize("change", ["global", "helper", "body"])
def test_a_change_to_what_the_function_reads_compiles_afresh(warm, tmp_path, change):
    folder, cache, _ = warm
    changed = tmp_path / "program"
    changed.mkdir()
    edits = {"global": {"scale": "10.0"}, "helper": {"square": "1.5 * u * u"},
             "body": {"body": "0.5 - x[i]"}}[change]
    write_model(changed, **edits)
    result = run(changed, cache)
    counts = result["counts"]
    # the function on three kinds of numbers and its three drivers compile
    # again; an unchanged helper (square, for the global and body edits) loads
    assert counts["missed"] >= 6 and counts["saved"] == counts["missed"]
    assert counts["loaded"] == (0 if change == "helper" else 3)
    got = values(result, "gradient")
    if change == "global":
        expected = rosenbrock_gradient(X, 10.0)
    elif change == "helper":
        expected = rosenbrock_gradient(X, 100.0, square_factor=1.5)
    else:
        expected = rosenbrock_gradient(X + 0.0, 100.0) + 2 * 0.5 * np.r_[1.0, 1, 1, 0]
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    np.testing.assert_array_equal(values(result, "reverse"), got)


def test_another_dualdiff_version_never_loads_the_old_code(warm):
    folder, cache, first = warm
    result = run(folder, cache, STAMP="0" * 64)
    assert result["counts"]["loaded"] == 0 and result["counts"]["missed"] >= 3
    assert result["gradient"] == first["gradient"]


def test_a_damaged_entry_is_compiled_again_and_rewritten(tmp_path):
    folder, cache = tmp_path / "program", tmp_path / "cache"
    folder.mkdir()
    write_model(folder)
    first = run(folder, cache)
    entries = sorted(cache.rglob("*.nbc"))
    for k, entry in enumerate(entries):  # truncated, emptied, garbage, another entry's
        data = entry.read_bytes()
        kind = k % 4
        entry.write_bytes(data[:len(data) // 2] if kind == 0 else b"" if kind == 1
                          else os.urandom(200) if kind == 2 else entries[k - 1].read_bytes())
    second = run(folder, cache)
    assert second["counts"]["damaged"] == len(entries) and second["counts"]["loaded"] == 0
    assert second["counts"]["saved"] == len(entries)
    third = run(folder, cache)  # (the helper is not needed once the function loads)
    assert third["counts"]["missed"] == 0 and third["counts"]["damaged"] == 0
    assert third["counts"]["loaded"] >= 6
    for key in ("gradient", "reverse", "hessian"):
        assert first[key] == second[key] == third[key]


def test_two_processes_racing_on_one_entry_both_answer_right(tmp_path):
    folder, cache = tmp_path / "program", tmp_path / "cache"
    folder.mkdir()
    write_model(folder)
    environment = dict(os.environ, DUALDIFF_CACHE_DIR=str(cache),
                       PYTHONPATH=f"{folder}{os.pathsep}{ROOT}")
    racers = [subprocess.Popen([sys.executable, str(folder / "program.py")], cwd=folder,
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for _ in range(2)]
    results = []
    for racer in racers:
        out, err = racer.communicate(timeout=600)
        assert racer.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert results[0]["gradient"] == results[1]["gradient"]
    assert not list(cache.rglob("*.tmp"))  # every write was renamed into place
    after = run(folder, cache)
    assert after["counts"]["missed"] == 0 and after["counts"]["damaged"] == 0
    assert after["hessian"] == results[0]["hessian"]


def test_the_cache_can_be_turned_off(tmp_path):
    folder, cache = tmp_path / "program", tmp_path / "cache"
    folder.mkdir()
    write_model(folder)
    result = run(folder, cache, DUALDIFF_CACHE="0")
    assert result["counts"] == {"loaded": 0, "missed": 0, "saved": 0, "damaged": 0,
                                "uncacheable": 0}
    assert not list(cache.rglob("*.nbc"))


def test_info_and_clear(tmp_path, monkeypatch):
    monkeypatch.setenv("DUALDIFF_CACHE_DIR", str(tmp_path))
    stale = tmp_path / ("a" * 16)
    stale.mkdir()
    (stale / "old-entry.abc.nbc").write_bytes(b"x")
    info = dd.cache.info()
    assert info["directory"] == str(tmp_path) and info["other_versions"] == 1
    assert info["entries"] == 0
    assert dd.cache.clear() == 1
    assert not stale.exists() and dd.cache.info()["other_versions"] == 0


def test_a_value_that_cannot_be_fingerprinted_leaves_the_function_uncached():
    from dualdiff._engine.diskcache import Uncacheable, fingerprint
    lock = __import__("threading").Lock()

    def reads_a_lock(x):
        return lock

    with pytest.raises(Uncacheable, match="lock"):
        fingerprint(reads_a_lock)


def test_the_fingerprint_follows_values_not_names():
    from dualdiff._engine.diskcache import fingerprint
    namespace = {}
    source = "def f(x):\n    return x * C + helper(x)\ndef helper(x):\n    return x * D\n"
    prints = []
    for c, d in [(1.0, 2.0), (1.0, 2.0), (1, 2.0), (1.0, 3.0)]:
        namespace.update(C=c, D=d)
        exec(source, namespace)
        prints.append(fingerprint(namespace["f"]))
    assert prints[0] == prints[1]              # same values: same entry
    assert len(set(prints[1:])) == 3           # 1 and 1.0 compile differently; so does D


TWIN = textwrap.dedent('''
    import json, sys
    import numpy as np
    from dualdiff._engine.diskcache import cached_njit
    # one generated function name, two bodies; every version is compiled
    # first thing in its process, so Numba's per-process counter gives it
    # the same number in each
    BODIES = {
        "floats_first": "def boxed(n):\\n    return np.arange(n) * 0.5, np.arange(n) + 7\\n",
        "ints_first": "def boxed(n):\\n    return np.arange(n) + 7, np.arange(n) * 0.5\\n",
    }
    out, alive = {}, []
    for version in sys.argv[1:]:
        namespace = {"np": np, "__name__": "__main__"}
        exec(BODIES[version], namespace)
        alive.append(cached_njit(namespace["boxed"]))  # as a Target keeps its dispatchers
        first, second = alive[-1](3)
        out[version] = [first.tolist(), second.tolist()]
    print(json.dumps(out))
''')


def test_code_compiled_in_different_processes_never_shares_an_environment(tmp_path):
    """Numba names compiled code (and the environment holding the constants
    its boxing reads, such as dtypes) by qualified name and a per-process
    counter.  Two versions of one function, each compiled first thing in
    its own process, used to get the same name; a process loading both gave
    the second the first's environment: its int64 result boxed as float64
    (a silent wrong answer), or 'descr is NULL'."""
    folder, cache = tmp_path / "program", tmp_path / "cache"
    folder.mkdir()
    (folder / "twin.py").write_text(TWIN)
    environment = dict(os.environ, DUALDIFF_CACHE_DIR=str(cache),
                       PYTHONPATH=f"{folder}{os.pathsep}{ROOT}")
    environment.pop("DUALDIFF_CACHE", None)

    def twin(*versions):
        done = subprocess.run([sys.executable, str(folder / "twin.py"), *versions], cwd=folder,
                              env=environment, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    twin("floats_first")  # each version compiled and saved by a process of its own
    twin("ints_first")
    both = twin("floats_first", "ints_first")  # then both loaded into one process
    assert both == {"floats_first": [[0.0, 0.5, 1.0], [7, 8, 9]],
                    "ints_first": [[7, 8, 9], [0.0, 0.5, 1.0]]}
