"""Where a gateway spends its CPU under load: py-spy samples while wrk drives it.

`py-spy record -f raw` writes one line per distinct stack (`frame;frame;... count`, leaf last);
idle threads are not sampled, so samples are proportional to CPU. Printed: the leaf functions
with most samples (self time) and, per source file, the share of samples with that file anywhere
on the stack (inclusive), which is what cutting one component would save at most.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections import Counter
from pathlib import Path

from scifikpi_tools.bench.gateway.wrk import run_wrk

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")


def parse_raw(text: str) -> tuple[Counter[str], Counter[str], int]:
    """(self samples by `function (file)`, inclusive samples by file, total samples)."""
    leaf: Counter[str] = Counter()
    files: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame(f) for f in stack.split(";")]
        leaf[f"{frames[-1][0]} ({frames[-1][1]})"] += n
        for file in {file for _, file in frames}:
            files[file] += n
    return leaf, files, total


def _frame(text: str) -> tuple[str, str]:
    m = _FRAME.match(text.strip())
    if not m:
        return text.strip(), "?"
    return m["func"], _short(m["file"])


def _short(path: str) -> str:
    """`.../site-packages/structlog/_base.py` -> `structlog/_base.py`."""
    for marker in ("site-packages/", "/src/", "lib/python3."):
        if marker in path:
            tail = path.rsplit(marker, 1)[1]
            return tail.split("/", 1)[1] if marker == "lib/python3." and "/" in tail else tail
    return path


def profile(
    pid: int, url: str, *, seconds: int, out: Path, connections: int, threads: int, top: int = 25
) -> None:
    """Samples `pid` for `seconds` while wrk loads `url`; prints the summary, keeps the raw file."""
    if shutil.which("py-spy") is None:
        print("py-spy is not installed (`pip install py-spy`): no profile")
        return
    load = threading.Thread(
        target=run_wrk,
        args=(url,),
        kwargs={"duration_s": seconds + 2, "connections": connections, "threads": threads},
        daemon=True,
    )
    load.start()
    cmd = ["py-spy", "record", "-p", str(pid), "-d", str(seconds), "-f", "raw", "-o", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    load.join()
    if done.returncode != 0 or not out.is_file():
        print(f"py-spy failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        return
    leaf, files, total = parse_raw(out.read_text())
    print(f"profile of pid {pid}: {total} samples over {seconds} s (raw stacks: {out})")
    print("  self (leaf function):")
    for name, n in leaf.most_common(top):
        print(f"    {n / total:6.1%}  {name}")
    print("  inclusive (file anywhere on the stack):")
    for name, n in files.most_common(top):
        print(f"    {n / total:6.1%}  {name}")
