"""The bad-input corpus: every file in ``bad_inputs/`` is refused clearly and changes nothing.

Each pipeline in ``bad_inputs/*.yaml`` goes through ``validate``, ``plan`` and ``apply``; each
lockfile in ``bad_inputs/locks/*.lock`` through ``plan`` and ``apply`` of the valid
``locks/pipeline.yaml`` with ``--lock``. ``bad_inputs/expectations.yaml`` says, per file, the
line the message must point at and a fragment it must contain. Every run must:

- exit 1 (an expected failure, not a usage error or a crash);
- name ``FILE:LINE:`` (the YAML node or lockfile line to fix) and say what is wrong;
- show no Python traceback (and never the content of a file a template tried to include);
- write nothing: each case runs in its own copy of the corpus, whose tree (names, sizes and
  mtimes of every file) is the same afterwards; crash logs would land inside it too.

To add a case, drop the file in ``bad_inputs/`` and add its line to ``expectations.yaml``.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
import yaml
from limitkit import snapshot

from .conftest import Run

CORPUS = Path(__file__).parent / "bad_inputs"
EXPECTATIONS = yaml.safe_load((CORPUS / "expectations.yaml").read_text(encoding="utf-8"))
PIPELINES = sorted(p.name for p in CORPUS.glob("*.yaml") if p.name != "expectations.yaml")
LOCKS = sorted(p.name for p in (CORPUS / "locks").glob("*.lock"))
INSTANT = 2.0  # seconds: a matrix past the limit is refused before any expansion


def test_the_corpus_is_big_and_every_file_has_an_expectation() -> None:
    assert sorted(EXPECTATIONS["pipelines"]) == PIPELINES
    assert sorted(EXPECTATIONS["locks"]) == LOCKS
    assert len(PIPELINES) + len(LOCKS) >= 40


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the corpus as the working directory (crash logs would go inside)."""
    root = tmp_path / "corpus"
    shutil.copytree(CORPUS, root)
    monkeypatch.chdir(root)
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / ".cache"))
    return root


def check_refusal(text: str, code: int, file: str, line: int | None, says: str) -> None:
    assert code == 1, text
    assert "Traceback" not in text, text
    assert "root:x:0:0" not in text, "a template read /etc/passwd"
    if line is None:
        assert file in text, text
        assert not re.search(re.escape(file) + r":\d", text), text
    else:
        assert f"{file}:{line}:" in text, f"expected {file}:{line}: in\n{text}"
    assert says in text, f"expected {says!r} in\n{text}"


@pytest.mark.parametrize("name", PIPELINES)
def test_a_bad_pipeline_is_refused_and_nothing_is_written(name: str, corpus: Path,
                                                          cli: Run) -> None:
    expected = EXPECTATIONS["pipelines"][name]
    before = snapshot(corpus)

    for command in (["validate"], ["plan"], ["apply", "--yes"]):
        started = time.monotonic()
        result = cli(command[0], name, *command[1:])
        seconds = time.monotonic() - started
        check_refusal(result.text, result.code, name, expected["line"], expected["says"])
        if name.startswith("huge-matrix"):
            assert seconds < INSTANT, f"{command[0]} took {seconds:.1f}s to refuse {name}"

    assert snapshot(corpus) == before


@pytest.mark.parametrize("name", LOCKS)
def test_a_corrupt_lockfile_is_refused_and_nothing_is_written(name: str, corpus: Path,
                                                              cli: Run) -> None:
    expected = EXPECTATIONS["locks"][name]
    reported = f"locks/{expected.get('file', name)}"
    before = snapshot(corpus)

    for command in ("plan", "apply"):
        result = cli(command, "locks/pipeline.yaml", "--lock", f"locks/{name}", "--yes"
                     if command == "apply" else "--detailed-exitcode")
        check_refusal(result.text, result.code, reported, expected["line"], expected["says"])

    assert snapshot(corpus) == before


def test_the_pipeline_paired_with_the_lockfiles_is_valid(corpus: Path, cli: Run) -> None:
    """So that a lockfile case fails because of the lockfile, not because of its pipeline."""
    result = cli("validate", "locks/pipeline.yaml")
    assert result.code == 0, result.text
    before = snapshot(corpus)
    assert not Path("locks/pipeline.lock").exists()
    plan = cli("plan", "locks/pipeline.yaml")
    assert plan.code == 0, plan.text
    assert "2 to create" in plan.out
    assert snapshot(corpus) == before


def test_an_explicit_lock_that_does_not_exist_is_an_error(corpus: Path, cli: Run) -> None:
    """A mistyped --lock must not plan everything as new (nor verify nothing as "ok")."""
    before = snapshot(corpus)
    for command in ("plan", "verify", "gallery"):
        extra = ["-o", "out"] if command == "gallery" else []
        result = cli(command, "locks/pipeline.yaml", "--lock", "locks/absent.lock", *extra)
        assert (result.code, result.err) == (1, (
            "error: --lock locks/absent.lock does not exist. Check the path (without --lock, "
            "seedflow uses locks/pipeline.lock)\n")), command
    assert snapshot(corpus) == before
