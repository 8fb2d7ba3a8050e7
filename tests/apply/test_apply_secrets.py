"""The API key is read from the environment and written nowhere: not in the lock, the journal,
the lock guard, the images folder, the output of any run (good, faulty, crashed, refused), nor
the crash log of an unexpected error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from applykit import CANARY, Project, Run, run_subprocess

from seedflow.lock.journal import journal_path
from seedflow.providers.apikley.client import ApikleyClient
from seedflow.sim import Fault, Simulator

PIPELINE = """\
version: 1
provider: apikley
output_dir: out
assets:
  shots:
    prompt: "studio photo of a {{{{ thing }}}}, take {{{{ seed }}}}"
    matrix:
      thing: [mug, lamp]
      seed: [{seeds}]
    output: "shots/{{{{ thing }}}}-s{{{{ seed }}}}.png"
  hero:
    provider: modellix
    prompt: "{{{{ scene }}}}, cinematic wide shot"
    matrix:
      scene: [a lighthouse at dusk, a forest cabin in snow]
    images: 2
    output: "hero/{{{{ scene | slug }}}}-{{{{ index }}}}.png"
"""


def files_holding_canary(root: Path) -> list[Path]:
    needle = CANARY.encode()
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_api_key_is_written_nowhere(make_sim: Callable[..., Simulator],
                                    env: Callable[..., dict[str, str]], project: Project,
                                    seedflow: Run, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    sim = make_sim(api_key=CANARY, fault_retry_after=0)  # only the canary opens the door
    variables = env(sim)
    outputs: list[str] = []

    def run(*args: str, code: int) -> None:
        result = seedflow("apply", str(project.pipeline), "--yes", *args)
        outputs.append(result.text)
        assert result.code == code, result.text
        assert files_holding_canary(tmp_path) == []

    # faults on every path that formats provider answers into messages
    project.pipeline.write_text(PIPELINE.format(seeds="1, 2"), encoding="utf-8")
    sim.inject(Fault.HTTP_500, endpoint="create")
    sim.inject(Fault.DROP_AFTER_RECORD, endpoint="create")
    sim.inject(Fault.HTTP_429, endpoint="poll")
    sim.inject(Fault.DOWNLOAD_404, endpoint="download")
    run(code=1)
    run("--retry-uncertain", code=0)
    assert sim.counters.creates >= 6  # the key was really sent, and accepted

    # killed mid-apply: the journal and the lock guard a dead process leaves behind
    project.pipeline.write_text(PIPELINE.format(seeds="1, 2, 3"), encoding="utf-8")
    crashed = run_subprocess(project.root, ["apply", "p.yaml", "--yes", "--concurrency", "1"],
                             {**variables, "SEEDFLOW_FAILPOINT": "after-submitted:1"})
    assert crashed.returncode < 0, project.explain(crashed)
    outputs += [crashed.stdout, crashed.stderr]
    assert journal_path(project.lock).exists()
    assert files_holding_canary(tmp_path) == []
    run(code=0)

    # the provider refuses the key
    project.pipeline.write_text(PIPELINE.format(seeds="1, 2, 3, 4"), encoding="utf-8")
    sim.config.api_key = "some-other-key-123"
    run(code=1)
    assert "APIKLEY_API_KEY" in outputs[-1]

    # a key pasted with its line break: refused before it can reach an HTTP library's errors
    sim.config.api_key = None
    monkeypatch.setenv("APIKLEY_API_KEY", CANARY + "\n")
    run(code=1)
    assert "APIKLEY_API_KEY" in outputs[-1]
    monkeypatch.setenv("APIKLEY_API_KEY", CANARY)

    # an unexpected error (a bug) while the client holds the key: the traceback goes to a log
    async def broken(self: ApikleyClient, task_id: str) -> None:
        raise RuntimeError("unexpected failure while reading a task")

    monkeypatch.setattr(ApikleyClient, "fetch", broken)
    run(code=3)
    crash_log = tmp_path / "cache" / "seedflow" / "crash.log"
    assert str(crash_log) in outputs[-1]
    assert "unexpected failure while reading a task" in crash_log.read_text(encoding="utf-8")

    for text in outputs:
        assert CANARY not in text
    assert files_holding_canary(tmp_path) == []
    assert project.lock.is_file() and project.images()
