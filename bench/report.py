"""What every bench shares: a process's CPU and memory, percentiles, where results go, the
tables in bench/README.md."""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
README = ROOT / "bench" / "README.md"


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_mib(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (the peak), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def save(result: object, suffix: str = "", out: Path = RESULTS) -> Path:
    """``<out>/<date><suffix>.json``."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{datetime.now(UTC):%Y-%m-%d}{suffix}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


def write_section(readme: Path, name: str, body: str) -> None:
    """Replace what stands between ``<!-- name:begin -->`` and ``<!-- name:end -->``
    (appended, with the markers, if the README has none)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = readme.read_text() if readme.exists() else "# Benchmarks\n"
    if begin not in text:
        text = f"{text.rstrip()}\n\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    readme.write_text(f"{head}{begin}{body}{end}{rest.split(end, 1)[1]}")


def arguments(parser: argparse.ArgumentParser) -> None:
    """Where a bench writes: ``--out`` (the JSON's folder) and ``--readme``."""
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--readme", type=Path, default=README)


def publish(result: object, name: str, text: str, args: argparse.Namespace) -> None:
    """``<out>/<date>-<name>.json``, the README's ``name`` section, and stdout."""
    save(result, f"-{name}", out=args.out)
    write_section(args.readme, name, text)
    print(text)
