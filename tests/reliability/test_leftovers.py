"""Temporary files a ``kill -9`` leaves behind are cleaned up by the next apply.

A kill can land in windows too short for the random kills of test_chaos.py to hit reliably:
between creating a temporary file and renaming it into place. These tests plant exactly what
such a kill leaves (the names come from ``tempfile.mkstemp`` with the prefixes and suffixes the
code uses) and check that the next apply removes it, so that a crashed CI job cannot leave
litter that ends up committed next to the lockfile or the images.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Run

PIPELINE = """\
version: 1
provider: sim
output_dir: out
assets:
  shots:
    prompt: "leftover test {{{{ n }}}}"
    matrix:
      n: [1, 2]
    output: "{folder}/{{{{ n }}}}.png"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Run) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.setenv("SEEDFLOW_SIM_LATENCY", "0.05")
    monkeypatch.setenv("SEEDFLOW_POLL_INTERVAL", "0.02")
    (root / "p.yaml").write_text(PIPELINE.format(folder="shots"), encoding="utf-8")
    first = cli("apply", "p.yaml", "--yes")
    assert first.code == 0, first.text
    return root


def temporary(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for pattern in ("*.part", "*.tmp", "*.journal",
                                                           "*.lck") for p in root.rglob(pattern))


def test_a_compaction_temp_file_left_by_a_kill_is_removed(project: Path, cli: Run) -> None:
    # write_atomic: mkstemp(prefix=".p.lock.", suffix=".tmp"), killed before os.replace
    stale = project / ".p.lock.k1ll3d_.tmp"
    stale.write_text('{"seedflow_lock":1}\n{"fingerprint":"0', encoding="utf-8")

    again = cli("apply", "p.yaml", "--yes")

    assert again.code == 0, again.text
    assert temporary(project) == []
    assert cli("plan", "p.yaml", "--detailed-exitcode").code == 0


def test_a_relink_copy_left_half_written_by_a_kill_is_removed(project: Path, cli: Run) -> None:
    # The outputs move to a new folder: apply relinks (copies) them. A kill mid-copy leaves
    # mkstemp(prefix=".1.png.", suffix=".part") in the new folder.
    (project / "p.yaml").write_text(PIPELINE.format(folder="moved"), encoding="utf-8")
    (project / "out" / "moved").mkdir()
    stale = project / "out" / "moved" / ".1.png.k1ll3d_.part"
    stale.write_bytes(b"\x89PNG\r\n\x1a\n half an image")

    relinked = cli("apply", "p.yaml", "--yes")

    assert relinked.code == 0, relinked.text
    assert "relinked" in relinked.err
    assert temporary(project) == []
    assert sorted(p.name for p in (project / "out" / "moved").iterdir()) == ["1.png", "2.png"]
