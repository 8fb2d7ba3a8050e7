"""Helpers for the end-to-end apply tests: a project folder with a pipeline writer and lock
checks, matching simulator tasks to lock entries, and ``python -m seedflow`` subprocesses (for
kill -9). The fixtures that use them are in conftest.py.

Everything goes over real loopback HTTP; nothing is mocked below the CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clirun import Result as Result  # re-exported for the apply tests
from clirun import Run as Run
from environment import scrubbed

from seedflow.lock.model import LockEntry
from seedflow.lock.read import read_lock
from seedflow.outputs import file_sha256
from seedflow.sim import Simulator

CANARY = "sk-canary-7f3a9c1e5b2d4a68"
"""The API key every test uses; it must never show up in a file or in any output."""

SUBPROCESS_TIMEOUT = 60.0




class Project:
    """A pipeline folder under tmp_path: ``p.yaml``, ``p.lock``, outputs under ``out/``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pipeline = root / "p.yaml"
        self.lock = root / "p.lock"
        self.out = root / "out"

    def write(self, provider: str = "apikley", things: tuple[str, ...] = ("mug", "lamp"),
              seeds: tuple[int, ...] = (1, 2, 3), images: int = 1, folder: str = "shots",
              asset: str = "shots") -> list[str]:
        """Write a one-asset pipeline; return its combinations' addresses."""
        index = "-{{ index }}" if images > 1 else ""
        lines = [
            "version: 1",
            f"provider: {provider}",
            "output_dir: out",
            "assets:",
            f"  {asset}:",
            # the seed in the prompt too: Modellix takes no seed, and tests match simulator
            # tasks to combinations by their request body
            '    prompt: "studio photo of a {{ thing }}, take {{ seed }}"',
            "    matrix:",
            f"      thing: [{', '.join(things)}]",
            f"      seed: [{', '.join(map(str, seeds))}]",
        ]
        if images > 1:
            lines.append(f"    images: {images}")
        lines.append(f'    output: "{folder}/{{{{ thing }}}}-s{{{{ seed }}}}{index}.png"')
        self.pipeline.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return [f"{asset}[thing={t}, seed={s}]" for t in things for s in seeds]

    @property
    def crash_log(self) -> Path:
        """Where seedflow writes the traceback of an unexpected error (XDG_CACHE_HOME is set
        to tmp_path/cache by the ``env`` fixture)."""
        return self.root.parent / "cache" / "seedflow" / "crash.log"

    def explain(self, proc: subprocess.CompletedProcess[str]) -> str:
        """A subprocess's output, and the crash log if there is one, for assertion messages."""
        log = self.crash_log.read_text(encoding="utf-8") if self.crash_log.exists() else ""
        return f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}\n{log}"

    def entries(self) -> dict[str, LockEntry]:
        """The lock's entries by address (journal replayed)."""
        return {e.address: e for e in read_lock(self.lock).entries.values()}

    def parts(self) -> list[Path]:
        return sorted(self.root.rglob("*.part"))

    def images(self) -> list[Path]:
        return sorted(self.out.rglob("*.png")) if self.out.exists() else []

    def assert_intact(self, addresses: list[str]) -> None:
        """Every address is succeeded in the lock with each image on disk, hash and size equal."""
        entries = self.entries()
        assert sorted(entries) == sorted(addresses)
        for address in addresses:
            entry = entries[address]
            assert entry.state == "succeeded", (address, entry.state, entry.error)
            assert entry.images, address
            for image in entry.images:
                path = self.root / image.path
                assert path.is_file(), path
                assert file_sha256(path) == image.sha256, path
                assert path.stat().st_size == image.size, path


def request_key(request: Any) -> str:
    """A request body as canonical text (without the callback URL), to match sim tasks to
    lock entries."""
    body = {k: v for k, v in dict(request).items() if k != "callBackUrl"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def tasks_by_address(sim: Simulator, project: Project) -> Counter[str]:
    """How many tasks the simulator recorded for each locked combination (by address)."""
    by_request = {request_key(e.request): address for address, e in project.entries().items()}
    counts: Counter[str] = Counter()
    for task in sim.tasks.values():
        counts[by_request.get(request_key(task.request), "<not in lock>")] += 1
    return counts




def subprocess_env(extra: dict[str, str]) -> dict[str, str]:
    return {**scrubbed(os.environ), **extra}


def run_subprocess(cwd: Path, args: list[str], env: dict[str, str], *,
                   timeout: float = SUBPROCESS_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seedflow", *args], cwd=cwd,
                          env=subprocess_env(env), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout, check=False)


def start_subprocess(cwd: Path, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "seedflow", *args], cwd=cwd,
                            env=subprocess_env(env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


def wait_for(condition: Callable[[], bool], *, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.005)


SECTIONS = (("Failed:", "failed"), ("Uncertain", "uncertain"), ("Not started:", "not-started"))


def reported(out: str, addresses: list[str]) -> dict[str, tuple[str, str]]:
    """The apply summary's Failed / Uncertain / Not started rows: address → (kind, reason)."""
    found: dict[str, tuple[str, str]] = {}
    kind = None
    for line in out.splitlines():
        if not line.startswith("  "):
            kind = next((k for title, k in SECTIONS if line.startswith(title)), None)
            continue
        for address in addresses:
            if kind and line.startswith(f"  {address}: "):
                found[address] = (kind, line[len(address) + 4:])
    return found


def assert_accounted(project: Project, addresses: list[str], out: str) -> dict[str, str]:
    """Every combination ended generated (succeeded in the lock, files intact) or is reported
    failed, uncertain or not started with a reason; returns address → outcome."""
    entries = project.entries()
    rows = reported(out, addresses)
    outcome: dict[str, str] = {}
    for address in addresses:
        entry = entries.get(address)
        if address in rows:
            kind, reason = rows[address]
            assert len(reason) > 10, (address, reason)
            assert entry is None or entry.state != "succeeded", (address, rows[address])
            outcome[address] = kind
        else:
            assert entry is not None and entry.state == "succeeded", (address, entry, out)
            for image in entry.images:
                assert file_sha256(project.root / image.path) == image.sha256
            outcome[address] = "succeeded"
    return outcome


def events(err: str, name: str) -> list[str]:
    """The addresses of apply's progress lines (``HH:MM:SS EVENT ADDRESS  DETAIL``, as written
    when stderr is not a terminal) for one event, in order."""
    found = []
    for line in err.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[1] == name:
            found.append(parts[2].split("  ", 1)[0])
    return found
