"""The public Jinja SSTI payload lists (../shared/corpora/ssti, provenance in its SOURCES.md),
every payload as a prompt: each is contained. It either renders harmless text or is a clean
error (exit 1, no traceback); no secret of the environment or the disk shows anywhere, no file
is written, no command runs, and memory and time stay within the render limits.

Escape and probe payloads run in-process; the resource-exhaustion ones each in a child process
whose peak memory is measured (with the render limits lowered, so each is quick)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from corekit import CANARY_NAME, CANARY_VALUE, Run, assert_no_traceback
from limitkit import corpus_lines, measured, snapshot

from seedflow.pipeline import templates

SECRET = "file-secret-5c2e91"
PAYLOADS = corpus_lines("ssti/jinja2_payloads.jsonl")
EXHAUSTION = corpus_lines("ssti/exhaustion_payloads.jsonl")
NO_CORPUS = [pytest.param(None, marks=pytest.mark.skip(
    reason="../shared/corpora is not beside this repository"))]
MEMORY = 128 * 2**20


def ids(rows: list[dict[str, object]]) -> list[str]:
    return [str(row["id"]) for row in rows] or ["no-corpus"]


def write_attack(folder: Path, payload: str) -> Path:
    """The payload as a prompt, its @@…@@ placeholders filled in as SOURCES.md describes."""
    secret, marker = folder / "secret.txt", folder / "pwned-marker"
    secret.write_text(SECRET + "\n", encoding="utf-8")
    filled = (payload.replace("@@CMD@@", f"touch {marker}").replace("@@MARK@@", str(marker))
              .replace("@@SECRET@@", str(secret)).replace("@@ENV@@", CANARY_NAME))
    doc = {"version": 1, "provider": "sim",
           "assets": {"a": {"prompt": filled, "output": "a.png"}}}
    path = folder / "p.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def assert_contained(text: str, folder: Path) -> None:
    assert CANARY_VALUE not in text, "the environment leaked"
    assert SECRET not in text, "a local file leaked"
    assert "root:x:0:0" not in text
    assert not (folder / "pwned-marker").exists(), "a command or a file write ran"


@pytest.mark.parametrize("case", PAYLOADS or NO_CORPUS, ids=ids(PAYLOADS))
def test_ssti_payload_is_contained(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   case: dict[str, str]) -> None:
    monkeypatch.setattr(templates, "RENDER_MEMORY", MEMORY)
    monkeypatch.setattr(templates, "RENDER_SECONDS", 5)
    write_attack(tmp_path, case["payload"])
    before = snapshot(tmp_path)
    for command in ("validate", "plan"):
        result = run(command, "p.yaml")
        assert result.code in (0, 1), result.text
        if case["expect"] == "error":
            assert result.code == 1, f"{case['id']} rendered: {result.out}"
            assert "p.yaml:5:" in result.err
        assert_no_traceback(result)
        assert_contained(result.text, tmp_path)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("case", EXHAUSTION or NO_CORPUS, ids=ids(EXHAUSTION))
def test_exhaustion_payload_is_bounded(tmp_path: Path, case: dict[str, str]) -> None:
    write_attack(tmp_path, case["payload"])
    before = snapshot(tmp_path)
    result = measured("validate", "p.yaml", cwd=tmp_path, render_memory=MEMORY,
                      render_seconds=2)
    assert result.code in (0, 1), result.text
    if case["expect"] == "error":
        assert result.code == 1, f"{case['id']} rendered: {result.out}"
        assert result.err.startswith("p.yaml:5:"), result.err
    assert "Traceback" not in result.text
    assert_contained(result.text, tmp_path)
    assert result.peak_mb < (MEMORY >> 20) + 150, f"peak {result.peak_mb:.0f} MB"
    assert result.seconds < 15
    assert snapshot(tmp_path) == before
