"""Run the reference systems ("anchors") beside Quorum in the benchmark scripts.

The anchors live in their own virtualenvs, made by ``benchmarks/setup_anchors.sh``
(``make anchors``), never in the project's ``.venv``.  Their drivers are the scripts
in ``shared/anchors/<anchor>/`` (beside the repo checkout, or ``$QUORUM_ANCHORS``).

Usage from a benchmark script (run as ``python benchmarks/xyz.py``)::

    from anchors import cpu_time, run_anchor, write_section, BENCHMARKS_MD

    eg = run_anchor("eg", "electionguard/bench_eg.py",
                    ["--n-ballots", "20", "--n-verify", "10"], timeout=600)
    with cpu_time() as t:
        ...                                  # Quorum's side
    write_section(BENCHMARKS_MD, "Elections", f"ours {t.cpu:.3f} s CPU ...")

Venv names: ``eg`` (ElectionGuard 1.4.0), ``crypten`` (CrypTen 0.4.1), ``mpyc``
(MPyC 0.11), ``psi`` (OpenMined PSI 2.0.6), ``flwr`` (Flower 1.42.0).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = REPO / "BENCHMARKS.md"
ANCHOR_NAMES = ("eg", "crypten", "mpyc", "psi", "flwr")
SETUP_HINT = "run `make anchors` (benchmarks/setup_anchors.sh)"


class AnchorError(RuntimeError):
    """An anchor is not installed, or its driver failed."""


def venvs_dir() -> Path:
    """Where setup_anchors.sh puts the venvs: ``$ANCHOR_VENVS`` or ``~/anchor-venvs``."""
    return Path(os.environ.get("ANCHOR_VENVS") or Path.home() / "anchor-venvs")


def anchors_dir() -> Path:
    """The anchors folder: ``$QUORUM_ANCHORS`` or ``../shared/anchors`` beside the repo."""
    return Path(os.environ.get("QUORUM_ANCHORS") or REPO.parent / "shared" / "anchors")


def venv_python(name: str) -> Path:
    """The Python interpreter of anchor venv ``name``; AnchorError if it is missing."""
    if name not in ANCHOR_NAMES:
        raise AnchorError(f"unknown anchor {name!r}; known: {', '.join(ANCHOR_NAMES)}")
    py = venvs_dir() / name / "bin" / "python"
    if not py.exists():
        raise AnchorError(f"anchor venv {name!r} not found at {py}: {SETUP_HINT}")
    return py


def available(name: str) -> bool:
    """True if the venv of anchor ``name`` exists (benchmarks may skip the anchor if not)."""
    try:
        venv_python(name)
    except AnchorError:
        return False
    return True


def anchor_script(script_path: str | os.PathLike[str]) -> Path:
    """Resolve a driver path; relative paths are taken inside :func:`anchors_dir`."""
    path = Path(script_path)
    if not path.is_absolute():
        path = anchors_dir() / path
    if not path.is_file():
        raise AnchorError(f"anchor driver not found: {path} (set QUORUM_ANCHORS?)")
    return path


# ---------------------------------------------------------------------- CPU time
def cpu_seconds() -> float:
    """CPU seconds used so far by this process (all threads) plus its reaped children.

    Children count once they have been waited for (``subprocess.run`` does that),
    grandchildren once their parent waited for them.  ``os.times()`` children fields,
    read through ``getrusage`` where available (µs instead of 10 ms resolution).
    """
    try:
        import resource

        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        children = ru.ru_utime + ru.ru_stime
    except ImportError:  # pragma: no cover - non-POSIX
        t = os.times()
        children = t.children_user + t.children_system
    return time.process_time() + children


@dataclass
class CpuTimer:
    """Filled in when the :func:`cpu_time` block exits: seconds of CPU and of wall time."""

    cpu: float = 0.0
    wall: float = 0.0


@contextmanager
def cpu_time() -> Iterator[CpuTimer]:
    """Measure CPU (this process + children, see :func:`cpu_seconds`) and wall time of a block.

    Not thread-safe with respect to other threads doing work or reaping children meanwhile.
    """
    timer = CpuTimer()
    c0, w0 = cpu_seconds(), time.perf_counter()
    try:
        yield timer
    finally:
        timer.cpu = cpu_seconds() - c0
        timer.wall = time.perf_counter() - w0


# ---------------------------------------------------------------------- running drivers
def _accepts_out(script: Path) -> bool:
    return '"--out"' in script.read_text(encoding="utf-8", errors="replace")


def run_anchor(
    name: str,
    script_path: str | os.PathLike[str],
    args: Sequence[str] = (),
    timeout: float = 600.0,
    *,
    result_file: str = "results.json",
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run an anchor driver in its venv and return the JSON it writes.

    The driver's folder is copied to a temporary directory first (without its
    ``results.json``), because some drivers (``mpc/bench_*.py``) merge into
    ``results.json`` next to themselves: the shared anchors stay untouched and
    every run starts clean.  Drivers that take ``--out`` get
    ``--out <tmp>/<result_file>`` unless ``args`` already has one.  Stdout goes to
    /dev/null (ElectionGuard logs ~100 kB per ballot there; all drivers write their
    figures to the file); stderr is kept and quoted on failure.

    The parsed JSON is returned; a top-level list is returned as ``{"rows": list}``.
    Key ``"_run"`` is added: command, wall and CPU seconds of the whole driver
    (start-up included).  Its ``cpu_s`` counts only processes that were waited for:
    MPyC's -M3 party 0 does not wait for the parties it spawns, so there use the
    driver's own per-party sums (``cpu_s_sum_parties_median``), as for every figure.
    On a non-zero exit, a timeout (the driver's whole process group is killed)
    or a missing result file, AnchorError is raised.
    """
    python = venv_python(name)
    script = anchor_script(script_path)
    argv = [str(a) for a in args]
    with tempfile.TemporaryDirectory(prefix=f"anchor-{name}-") as tmp:
        workdir = Path(tmp) / script.parent.name
        shutil.copytree(script.parent, workdir,
                        ignore=shutil.ignore_patterns(result_file, "__pycache__", "*.log"))
        out_path = workdir / result_file
        if "--out" not in argv and _accepts_out(script):
            argv += ["--out", str(out_path)]
        cmd = [str(python), str(workdir / script.name), *argv]
        child_env = {k: v for k, v in os.environ.items()
                     if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        child_env.update(env or {})
        stderr_path = Path(tmp) / "stderr.log"
        with open(stderr_path, "wb") as err, cpu_time() as t:
            proc = subprocess.Popen(cmd, cwd=workdir, env=child_env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True)
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise AnchorError(f"{name}: {script.name} timed out after {timeout:g} s: "
                                  f"{' '.join(cmd)}\n{_tail(stderr_path)}") from None
            except BaseException:
                _kill_group(proc)
                raise
        if rc != 0:
            raise AnchorError(f"{name}: {script.name} exited {rc}: {' '.join(cmd)}\n"
                              f"{_tail(stderr_path)}")
        if not out_path.is_file():
            raise AnchorError(f"{name}: {script.name} wrote no {result_file}\n{_tail(stderr_path)}")
        data = json.loads(out_path.read_text(encoding="utf-8"))
    result: dict[str, Any] = data if isinstance(data, dict) else {"rows": data}
    result["_run"] = {"anchor": name, "cmd": [str(python), script.name, *argv],
                      "wall_s": t.wall, "cpu_s": t.cpu}
    return result


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the driver and every process it started (its own session/process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tail(path: Path, limit: int = 3000) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    return ("...\n" + text[-limit:]) if len(text) > limit else text


# ---------------------------------------------------------------------- BENCHMARKS.md
def _fence_of(line: str) -> str | None:
    stripped = line.lstrip()
    for fence in ("```", "~~~"):
        if stripped.startswith(fence):
            return fence
    return None


def _section_spans(lines: list[str], title: str) -> list[tuple[int, int]]:
    """[start, end) line ranges of every ``## title`` section (ends at the next ``## ``).

    Headings inside fenced code blocks are ignored; ``###`` sub-headings stay inside.
    """
    heads: list[tuple[int, str]] = []
    fence: str | None = None
    for i, line in enumerate(lines):
        marker = _fence_of(line)
        if fence is not None:
            if marker == fence:
                fence = None
            continue
        if marker is not None:
            fence = marker
        elif line.startswith("## "):
            heads.append((i, line[3:].strip()))
    spans = []
    for k, (i, head) in enumerate(heads):
        if head == title:
            end = heads[k + 1][0] if k + 1 < len(heads) else len(lines)
            spans.append((i, end))
    return spans


def write_section(markdown_path: str | os.PathLike[str], section_title: str, body: str) -> None:
    """Replace the ``## section_title`` section of a Markdown file, or append it.

    Each benchmark script owns one section of BENCHMARKS.md; everything else in
    the file is kept byte for byte.  The section runs from its heading to the
    next level-2 heading (or the end).  Duplicates of the section after the
    first are removed.  A missing file is created with a ``# Benchmarks`` title.
    Writes are atomic and serialized by a lock file, so scripts may run at once.
    """
    path = Path(markdown_path)
    title = section_title.strip()
    if not title or "\n" in title:
        raise ValueError(f"bad section title {section_title!r}")
    block = [f"## {title}\n", "\n", *(ln + "\n" for ln in body.strip("\n").splitlines())]
    with _locked(path):
        if path.exists():
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        else:
            lines = ["# Benchmarks\n", "\n",
                     "Each `##` section is written by one script in `benchmarks/`.\n"]
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        spans = _section_spans(lines, title)
        if spans:
            first_start, first_end = spans[0]
            new_block = block + (["\n"] if first_end < len(lines) else [])
            for start, end in reversed(spans[1:]):
                del lines[start:end]
            lines[first_start:first_end] = new_block
        else:
            while lines and not lines[-1].strip():
                lines.pop()
            lines += (["\n"] if lines else []) + block
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text("".join(lines), encoding="utf-8")
        os.replace(tmp, path)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock for updating ``path`` (a lock file in the temp dir; POSIX only)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX: no locking
        yield
        return
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"quorum-md-{key}.lock"
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# The smallest runs that exercise every stage of each driver (seconds each, here).
SMOKE: dict[str, tuple[str, list[str]]] = {
    "eg": ("electionguard/bench_eg.py", ["--n-ballots", "4", "--n-verify", "2", "--ceremony-reps",
                                         "1", "--tally-reps", "1", "--decrypt-reps", "1"]),
    "crypten": ("mpc/bench_crypten.py", ["--parties", "3", "--reps", "1", "--reps-b1", "2",
                                         "--gd-iters", "20"]),
    "mpyc": ("mpc/bench_mpyc.py", ["-M3", "--reps", "1", "--reps-b1", "2", "--skip", "micro,mlpacc",
                                   "--alphas", "8"]),
    "psi": ("psi/bench_openmined.py", ["--sizes", "10", "--reps", "3", "--reveal", "true"]),
    "flwr": ("secagg/bench_flwr_secagg.py", ["--n", "10", "--d", "10000", "--reps", "2"]),
}


def _main(argv: list[str]) -> int:
    """``python benchmarks/anchors.py [--smoke]``: list the anchors (and smoke-run them)."""
    for anchor in ANCHOR_NAMES:
        status = venv_python(anchor) if available(anchor) else f"missing ({SETUP_HINT})"
        print(f"{anchor:8s} {status}")
    print(f"drivers  {anchors_dir()}")
    ok = all(available(a) for a in ANCHOR_NAMES)
    if "--smoke" in argv:
        for anchor, (script, args) in SMOKE.items():
            try:
                run = run_anchor(anchor, script, args, timeout=300)["_run"]
                print(f"smoke {anchor:8s} ok: {run['wall_s']:.1f} s wall, {run['cpu_s']:.1f} s CPU")
            except AnchorError as exc:
                ok = False
                print(f"smoke {anchor:8s} FAILED: {exc}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
