"""`quorum` under Ctrl-C and a closed pipe: a parallel `quorum verify` stops at once with exit 130 (its workers used
to die mid-chunk and leave the parent waiting forever), and `quorum verify | head` exits with the verdict, quietly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from voting_helpers import Scenario, scripted_record

# Chunk 0 announces itself and the others never finish: the interrupt lands while workers are busy.
_SLOW_VERIFY = """
import sys, time
import voting.verifier as v
real = v._check_chunk
def slow(chunk):
    if chunk[0] == 0:
        print("ready", file=sys.stderr, flush=True)
        return real(chunk)
    time.sleep(3600)
v._check_chunk = slow
v.CHUNK = 4
from quorum.cli import main
sys.exit(main(["verify", sys.argv[1], "--workers", "2", "--quiet"]))
"""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return scripted_record(tmp_path_factory.mktemp("signals"))


def test_ctrl_c_stops_a_parallel_verify_with_exit_130(scenario: Scenario) -> None:
    child = subprocess.Popen([sys.executable, "-c", _SLOW_VERIFY, str(scenario.record)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as a terminal leaves it
    before = ""
    try:
        assert child.stderr is not None
        while not before.endswith("ready\n"):  # whatever comes before the marker is kept for the checks below
            line = child.stderr.readline()
            assert line, f"the child ended before its first chunk: {before!r}"
            before += line
        os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C does: the whole process group
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    err = before + err
    assert child.returncode == 130 and "quorum verify: interrupted" in err and "Traceback" not in err, err


@pytest.mark.parametrize("json_output", [False, True])
def test_verify_into_a_closed_pipe_exits_with_the_verdict(scenario: Scenario, json_output: bool) -> None:
    command = [sys.executable, "-m", "quorum.cli", "verify", str(scenario.record), "--workers", "1", "--quiet"]
    if json_output:
        command.append("--json")
    reader, writer = os.pipe()
    os.close(reader)  # like `| head` after it has read its line: every write fails with EPIPE
    with os.fdopen(writer, "w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_version_names_the_installed_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    from quorum.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"quorum {version('quorum-suite')}"
