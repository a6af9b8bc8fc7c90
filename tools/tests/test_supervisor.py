"""The supervisor: prefixed output, restart with backoff, clean stop of whole process groups."""

from __future__ import annotations

import io
import os
import re
import signal
import sys
from pathlib import Path

from scifikpi_tools.supervisor import ChildSpec, Output, Supervisor, describe_exit, run_once
from scifikpi_tools.testing import alive, wait_gone, wait_until


def spec(name: str, code: str, **kwargs: object) -> ChildSpec:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return ChildSpec(
        name=name, argv=[sys.executable, "-c", code], env=env, cwd=Path.cwd(), **kwargs
    )


def test_exit_descriptions() -> None:
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-9) == "was killed by SIGKILL (exit code -9)"
    assert describe_exit(None) == "could not start"


async def test_output_lines_are_prefixed_with_the_process_name() -> None:
    buf = io.StringIO()
    sup = Supervisor(Output(buf, color=False))
    sup.start(
        spec("hello", "import sys; print('one'); print('two', file=sys.stderr)", restart=False)
    )
    await wait_until(lambda: "two" in buf.getvalue() and "not restarted" in buf.getvalue())
    await sup.stop()
    lines = buf.getvalue().splitlines()
    assert any(re.fullmatch(r"hello\s+\| one", line) for line in lines), lines
    assert any(re.fullmatch(r"hello\s+\| two", line) for line in lines), lines
    assert sup.exits[0].name == "hello" and sup.exits[0].code == 0


async def test_a_killed_child_is_reported_and_restarted() -> None:
    buf = io.StringIO()
    sup = Supervisor(Output(buf, color=False), backoff_initial=0.1)
    child = sup.start(spec("sleeper", "import time; print('up'); time.sleep(60)"))
    first = await wait_until(lambda: child.pid)
    os.kill(first, signal.SIGKILL)
    second = await wait_until(lambda: child.pid if child.pid not in (None, first) else None)
    try:
        assert sup.exits[0].name == "sleeper"
        assert sup.exits[0].code == -signal.SIGKILL
        assert f"sleeper (pid {first}) was killed by SIGKILL" in buf.getvalue()
        assert "restarting in 0.1s (restart #1)" in buf.getvalue()
        assert child.restarts == 1 and child.pids == [first, second]
    finally:
        await sup.stop()
    assert await wait_gone({first, second}) == set()


async def test_a_crash_loop_backs_off() -> None:
    buf = io.StringIO()
    sup = Supervisor(Output(buf, color=False), backoff_initial=0.1, backoff_max=0.4)
    sup.start(spec("crasher", "import sys; sys.exit(3)"))
    await wait_until(lambda: len(sup.exits) >= 4, timeout_s=30)
    await sup.stop()
    assert {e.code for e in sup.exits} == {3}
    text = buf.getvalue()
    assert "exited with code 3" in text
    for expected in (
        "0.1s (restart #1)",
        "0.2s (restart #2)",
        "0.4s (restart #3)",
        "0.4s (restart #4)",
    ):
        assert f"restarting in {expected}" in text, text


async def test_stop_terminates_the_whole_group_and_escalates_to_sigkill() -> None:
    code = (
        "import signal, subprocess, sys, time\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print('grandchild', g.pid, flush=True)\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "time.sleep(60)\n"
    )
    buf = io.StringIO()
    sup = Supervisor(Output(buf, color=False), stop_timeout=1.0)
    child = sup.start(spec("stubborn", code))
    match = await wait_until(lambda: re.search(r"grandchild (\d+)", buf.getvalue()))
    grandchild, pid = int(match.group(1)), child.pid
    assert pid is not None and alive(grandchild)
    await sup.stop()
    assert "stubborn did not stop within 1s: SIGKILL" in buf.getvalue()
    assert await wait_gone({pid, grandchild}) == set()
    assert sup.exits == []  # a requested stop is not reported as a crash


async def test_run_once_reports_the_exit_code_and_output() -> None:
    buf = io.StringIO()
    out = Output(buf, color=False)
    env = dict(os.environ)
    code = await run_once(
        "job",
        [sys.executable, "-c", "print('migrating'); raise SystemExit(2)"],
        env=env,
        cwd=Path.cwd(),
        output=out,
        timeout_s=30,
    )
    assert code == 2
    assert re.search(r"job\s+\| migrating", buf.getvalue())
