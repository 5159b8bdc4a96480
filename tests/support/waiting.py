"""Polling with a deadline: the only way tests wait for the cluster."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

T = TypeVar("T")


def wait_for(
    fn: Callable[[], T | Literal[False] | None], timeout: float = 10, interval: float = 0.05, what: str = ""
) -> T:
    """Call fn until it returns something truthy; fail with the last value after timeout."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = fn()
        except AssertionError as e:  # fn may assert to say what is still wrong
            value, last = None, e
        if value:
            return value
        if value is not None:
            last = value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or fn}: last {last!r}")
        time.sleep(interval)


def wait_http_ok(
    url: str, proc: subprocess.Popen[bytes], what: str, logfile: Path, timeout: float = 30
) -> None:
    """Poll url until 200, failing early (with the log's path) if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; log: {logfile}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout}s; log: {logfile}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
