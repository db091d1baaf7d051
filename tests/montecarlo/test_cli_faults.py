"""Output faults are one clear line and a non-zero exit with nothing half-written; worker
processes die with their parent; SIGTERM cleans up as SIGINT does; SIGINT stops at once."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.montecarlo.output import RunWriter
from tests.helpers import CONFIGS, ROOT

CONFIG = str(CONFIGS / "default.yaml")
SMALL = ["-n", "2", "--months", "2", "-w", "1", "--no-progress"]


def _one_error_line(res) -> str:
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit)
    # (the estimate printed before a run starts is not part of the error)
    lines = [ln for ln in res.output.splitlines() if ln.strip() and not ln.startswith("estimate: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    return lines[0]


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir()) if parent.is_dir() else []


def test_out_under_a_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    line = _one_error_line(CliRunner().invoke(main, ["simulate", CONFIG, *SMALL, "--out", str(tmp_path / "afile" / "run")]))
    assert "Not a directory" in line
    assert _leftovers(tmp_path) == ["afile"]


def test_out_in_proc(tmp_path):
    line = _one_error_line(CliRunner().invoke(main, ["simulate", CONFIG, *SMALL, "--out", "/proc/carbonsim-run"]))
    assert "/proc/" in line


def test_out_is_an_existing_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    line = _one_error_line(CliRunner().invoke(main, ["simulate", CONFIG, *SMALL, "--out", str(tmp_path / "afile")]))
    assert "already exists" in line
    assert (tmp_path / "afile").read_text() == "x"


def test_an_unwritable_folder(tmp_path, monkeypatch):
    def refuse(self, name, text):  # as a folder without write permission answers (root ignores modes)
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self.tmp / name))

    monkeypatch.setattr(RunWriter, "write_text", refuse)
    line = _one_error_line(CliRunner().invoke(main, ["simulate", CONFIG, *SMALL, "--out", str(tmp_path / "run")]))
    assert "Permission denied" in line
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("command", ["simulate", "run"])
def test_a_full_disk_leaves_nothing(tmp_path, monkeypatch, command):
    def full(self, name, df):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.tmp / name))

    monkeypatch.setattr(RunWriter, "write_table", full)
    args = [command, CONFIG, *SMALL, "--out", str(tmp_path / "run")]
    line = _one_error_line(CliRunner().invoke(main, args))
    assert "No space left on device" in line and "disk is full" in line
    assert _leftovers(tmp_path) == []


def test_report_on_a_full_disk(tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert CliRunner().invoke(main, ["simulate", CONFIG, *SMALL, "--out", str(run)]).exit_code == 0
    before = _leftovers(run)

    def full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr("sim.report.build.atomic_write_bytes", full)
    line = _one_error_line(CliRunner().invoke(main, ["report", str(run)]))
    assert "No space left on device" in line
    assert _leftovers(run) == sorted({*before, "figures"})  # no report.html, no report.md
    assert not list((run / "figures").iterdir())


# ---- signals: a real `carbonsim simulate --workers 2`, long enough to be interrupted --------------

def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _start_long_run(out: Path) -> tuple[subprocess.Popen, list[int]]:
    """``carbonsim simulate`` of 5,000 replications on 2 workers (minutes), once both run."""
    cmd = [sys.executable, "-c", "from sim.cli import console_main; console_main()", "simulate", CONFIG,
           "-n", "5000", "--workers", "2", "--no-progress", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while len(_children(proc.pid)) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.1)
    time.sleep(1.0)  # both past their start, computing chunks
    return proc, _children(proc.pid)


def _wait_gone(pids: list[int], within_s: float) -> list[int]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads process trees from /proc (Linux)")
@pytest.mark.timeout(300)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_workers_never_outlive_the_run(tmp_path, sig):
    out = tmp_path / "run"
    proc, workers = _start_long_run(out)
    try:
        t0 = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        stopped_s = time.monotonic() - t0
        assert _wait_gone(workers, within_s=5.0) == []  # orphans would be adopted by PID 1 and run on
    finally:
        for pid in [proc.pid, *workers]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert not out.exists()
    if sig == signal.SIGKILL:
        return  # nothing runs in the killed process: its partial folder stays until the next run there
    assert stopped_s < 2.0
    assert _leftovers(tmp_path) == []  # no hidden .run.partial
    assert "Traceback" not in err
    if sig == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM and "terminated (SIGTERM)" in err
    else:
        assert proc.returncode == 1 and "Aborted" in err
