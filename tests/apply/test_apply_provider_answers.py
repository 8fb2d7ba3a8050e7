"""``seedflow apply`` over real loopback HTTP against the simulator answering as the live
services do beyond their docs (issue 12; the shapes and their sources are in
docs/providers.md): every combination ends generated or reported with the provider's reason,
and creates are counted where money is involved."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from applykit import (
    CANARY,
    Project,
    Result,
    Run,
    assert_accounted,
    events,
    reported,
    run_subprocess,
    tasks_by_address,
)

from seedflow.apply import executor
from seedflow.lock.journal import journal_path
from seedflow.sim import Answer, Fault, Simulator

PROVIDERS = ["apikley", "modellix"]


def apply(seedflow: Run, project: Project, *args: str) -> Result:
    return seedflow("apply", str(project.pipeline), "--yes", *args)


def plan_summary(seedflow: Run, project: Project) -> dict[str, int]:
    result = seedflow("plan", str(project.pipeline), "--format", "json")
    assert result.code == 0, result.text
    return {k: v for k, v in json.loads(result.out)["summary"].items() if v}


# --- items 1-3: Modellix's status words --------------------------------------------------------

@pytest.mark.parametrize("words", [
    {"processing": "running", "success": "completed"},
    {"processing": "running", "success": "succeeded"},
], ids=["running-completed", "running-succeeded"])
def test_modellix_running_keeps_polling_and_completed_is_downloaded(
        words: dict[str, str], make_sim: Callable[..., Simulator],
        env: Callable[..., object], project: Project, seedflow: Run) -> None:
    sim = make_sim(latency=0.4, state_words=words)
    env(sim)
    addresses = project.write(provider="modellix", things=("mug",), seeds=(1, 2))

    result = apply(seedflow, project)

    assert result.code == 0, result.text
    assert events(result.err, "retry") == []  # "running" is no error to retry
    assert sim.counters.creates == len(addresses)
    assert sim.counters.polls > 2 * len(addresses)  # polled through "running"
    project.assert_intact(addresses)


def test_modellix_error_is_recorded_failed_and_never_resumed(
        make_sim: Callable[..., Simulator], env: Callable[..., object], project: Project,
        seedflow: Run) -> None:
    sim = make_sim(state_words={"failed": "error"})
    env(sim)
    (address,) = project.write(provider="modellix", things=("mug",), seeds=(1,))
    sim.inject(Fault.GENERATION_FAILED, times=2)

    first = apply(seedflow, project)

    assert first.code == 1, first.text
    entry = project.entries()[address]
    assert (entry.state, entry.attempts) == ("failed", 2)  # one paid retry, as for "failed"
    assert reported(first.out, [address])[address][0] == "failed"
    assert "generation_failed" in (entry.error or "")
    assert plan_summary(seedflow, project) == {"create": 1}  # not "resume" of a dead task
    polls = sim.counters.polls

    again = apply(seedflow, project)

    assert again.code == 0, again.text
    assert sim.counters.creates == 3
    assert sim.counters.polls - polls < 10  # the new task's polls only
    project.assert_intact([address])


# --- item 4: kie's code-500 parameter refusal --------------------------------------------------

@pytest.mark.parametrize("status", [200, 500])
def test_a_parameter_refused_with_code_500_is_sent_once_and_reported(
        status: int, make_sim: Callable[..., Simulator], env: Callable[..., object],
        project: Project, seedflow: Run) -> None:
    sim = make_sim(apikley_refusal_status=status)
    env(sim)
    addresses = project.write(provider="apikley")
    sim.inject(Answer.INVALID_PARAMETER)

    result = apply(seedflow, project, "--concurrency", "1")

    assert result.code == 1, result.text
    outcome = assert_accounted(project, addresses, result.out)
    (refused,) = [a for a, kind in outcome.items() if kind == "failed"]
    reason = reported(result.out, addresses)[refused][1]
    assert '"image_size is not within the range of allowed options"' in reason
    assert "fix the request" in reason and "later" not in reason
    assert events(result.err, "retry") == []
    assert sim.counters.create_requests == len(addresses)  # no combination sent twice
    assert sim.counters.creates == len(addresses) - 1
    assert refused not in project.entries()  # nothing was created: no intent left
    assert set(tasks_by_address(sim, project).values()) == {1}


# --- item 7: a 5xx answer to a paid create -----------------------------------------------------

@pytest.mark.parametrize(("provider", "fault"), [
    ("apikley", Fault.HTTP_500), ("modellix", Fault.HTTP_500), ("modellix", Fault.HTTP_503)])
def test_a_5xx_create_is_uncertain_and_resent_only_when_asked(
        provider: str, fault: Fault, make_sim: Callable[..., Simulator],
        env: Callable[..., object], project: Project, seedflow: Run) -> None:
    sim = make_sim()
    env(sim)
    addresses = project.write(provider=provider)
    sim.inject(fault, endpoint="create")

    first = apply(seedflow, project)

    assert first.code == 1, first.text
    outcome = assert_accounted(project, addresses, first.out)
    (address,) = [a for a, kind in outcome.items() if kind == "uncertain"]
    reason = reported(first.out, addresses)[address][1]
    assert "does not say whether the task was created" in reason
    assert project.entries()[address].state == "uncertain"
    assert sim.counters.create_requests == len(addresses)  # never re-sent on its own

    again = apply(seedflow, project)

    assert again.code == 1
    assert reported(again.out, addresses)[address][0] == "uncertain"
    assert sim.counters.create_requests == len(addresses)

    retried = apply(seedflow, project, "--retry-uncertain")

    assert retried.code == 0, retried.text
    assert sim.counters.create_requests == len(addresses) + 1
    project.assert_intact(addresses)


# --- item 5: success without a result URL ------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_success_without_a_result_url_is_a_terminal_failure(
        provider: str, make_sim: Callable[..., Simulator], env: Callable[..., object],
        project: Project, seedflow: Run) -> None:
    sim = make_sim()
    env(sim)
    addresses = project.write(provider=provider)
    sim.inject(Answer.NO_RESULT)

    result = apply(seedflow, project)

    assert result.code == 1, result.text
    outcome = assert_accounted(project, addresses, result.out)
    (address,) = [a for a, kind in outcome.items() if kind == "failed"]
    reason = reported(result.out, addresses)[address][1]
    assert "returned no image URL" in reason
    assert "run apply again" not in reason
    assert project.entries()[address].state == "failed"
    assert events(result.err, "retry") == []
    assert sim.counters.creates == len(addresses)  # no paid retry on its own


# --- item 6: the reason of a 501 ---------------------------------------------------------------

def test_a_501_task_record_reports_the_providers_reason(
        make_sim: Callable[..., Simulator], env: Callable[..., object], project: Project,
        seedflow: Run) -> None:
    sim = make_sim(apikley_fail_code=501)
    env(sim)
    (address,) = project.write(provider="apikley", things=("mug",), seeds=(1,))
    sim.inject(Fault.GENERATION_FAILED, times=2)

    result = apply(seedflow, project)

    assert result.code == 1, result.text
    reason = reported(result.out, [address])[address][1]
    said = "Generation failed: the model returned no image (simulated failure)"
    assert reason == f"generation failed: 501: {said}"
    assert project.entries()[address].error == f"501: {said}"
    assert sim.counters.creates == 2


# --- item 8: a task not visible right after its create -----------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_task_not_visible_yet_is_polled_through_the_grace_period(
        provider: str, make_sim: Callable[..., Simulator], env: Callable[..., object],
        project: Project, seedflow: Run) -> None:
    sim = make_sim(not_found_for=1.0)
    env(sim)  # polls every 0.03-0.2 s: far more than three "not found" answers
    addresses = project.write(provider=provider, things=("mug",), seeds=(1, 2))

    result = apply(seedflow, project)

    assert result.code == 0, result.text
    assert sim.counters.creates == len(addresses)
    assert sim.counters.polls > 5 * len(addresses)
    project.assert_intact(addresses)


def test_after_the_grace_period_the_task_is_lost_and_not_paid_again(
        make_sim: Callable[..., Simulator], env: Callable[..., object], project: Project,
        seedflow: Run) -> None:
    sim = make_sim(not_found_for=30.0)
    env(sim, SEEDFLOW_NOT_FOUND_GRACE="1")
    (address,) = project.write(provider="apikley", things=("mug",), seeds=(1,))

    result = apply(seedflow, project)

    assert result.code == 1, result.text
    reason = reported(result.out, [address])[address][1]
    assert '"recordInfo is null"' in reason and "the task is lost" in reason
    assert project.entries()[address].state == "failed"
    assert sim.counters.creates == 1
    assert sim.counters.polls >= 3


# --- item 9: a key revoked while polling -------------------------------------------------------

@pytest.mark.parametrize(("provider", "key_env"), [("apikley", "APIKLEY_API_KEY"),
                                                   ("modellix", "MODELLIX_API_KEY")])
def test_401_while_polling_stops_new_creates_and_collects_the_rest(
        provider: str, key_env: str, make_sim: Callable[..., Simulator],
        env: Callable[..., object], project: Project, seedflow: Run) -> None:
    sim = make_sim(latency=0.3)
    env(sim)
    addresses = project.write(provider=provider)
    sim.inject(Answer.UNAUTHORIZED, endpoint="poll")

    first = apply(seedflow, project, "--concurrency", "2")

    assert first.code == 1, first.text
    assert key_env in first.out
    outcome = assert_accounted(project, addresses, first.out)
    kinds = sorted(outcome.values())
    created = sim.counters.creates
    assert kinds.count("failed") == 1  # the task whose poll was refused: still recorded
    assert kinds.count("succeeded") == created - 1  # the others in flight were collected
    assert kinds.count("not-started") == len(addresses) - created > 0
    (refused,) = [a for a, kind in outcome.items() if kind == "failed"]
    assert project.entries()[refused].state == "submitted"
    assert sim.counters.create_requests == created

    again = apply(seedflow, project)

    assert again.code == 0, again.text
    assert sim.counters.creates == len(addresses)  # the refused one resumed at no cost
    project.assert_intact(addresses)


# --- issue 10: a provider that echoes the key --------------------------------------------------

PIPELINE = """\
version: 1
provider: apikley
output_dir: out
assets:
  shots:
    prompt: "studio photo of a {{ thing }}"
    matrix:
      thing: [mug, lamp, vase]
    output: "shots/{{ thing }}.png"
  hero:
    provider: modellix
    prompt: "{{ scene }}, cinematic wide shot"
    matrix:
      scene: [a lighthouse at dusk, a forest cabin in snow]
    output: "hero/{{ scene | slug }}.png"
"""


def files_holding(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_a_key_echoed_in_failures_and_errors_is_written_nowhere(
        make_sim: Callable[..., Simulator], env: Callable[..., dict[str, str]],
        project: Project, seedflow: Run, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    sim = make_sim(echo_key=True, apikley_fail_code=501)
    variables = env(sim)
    project.pipeline.write_text(PIPELINE, encoding="utf-8")
    texts: list[str] = []

    # failed generations (failMsg/failCode, Modellix's error), a refused parameter, a 5xx
    sim.inject(Fault.GENERATION_FAILED, times=6)
    sim.inject(Answer.INVALID_PARAMETER)
    sim.inject(Fault.HTTP_500)
    result = apply(seedflow, project, "--concurrency", "1")
    texts.append(result.text)
    assert result.code == 1, result.text
    errors = [e.error or "" for e in project.entries().values()]
    assert any("Bearer [REDACTED]" in e for e in errors), errors  # really echoed, and redacted

    # killed mid-apply: the journal a dead process leaves behind
    sim.inject(Fault.GENERATION_FAILED, times=4)
    crashed = run_subprocess(project.root, ["apply", "p.yaml", "--yes", "--concurrency", "1",
                                            "--retry-uncertain"],
                             {**variables, "SEEDFLOW_FAILPOINT": "after-submitted:2"})
    assert crashed.returncode < 0, project.explain(crashed)
    texts += [crashed.stdout, crashed.stderr]
    assert journal_path(project.lock).exists()
    assert files_holding(tmp_path, CANARY) == []

    # an unexpected error while a failure's text is in hand: the traceback goes to a log
    def broken(state: object) -> str:
        raise RuntimeError(f"unexpected failure with {state!r}")

    sim.inject(Fault.GENERATION_FAILED)
    monkeypatch.setattr(executor, "_failure_text", broken)
    crash = apply(seedflow, project, "--retry-uncertain")
    texts.append(crash.text)
    assert crash.code == 3, crash.text
    assert "Bearer [REDACTED]" in project.crash_log.read_text(encoding="utf-8")

    for text in texts:
        assert CANARY not in text
    assert files_holding(tmp_path, CANARY) == []
