"""Plan: the six actions from hand-built lock entries, and the three output formats."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from corekit import (
    Run,
    WritePipeline,
    assert_no_traceback,
    combos_of,
    entry_for,
    image,
    write_lock,
)

from seedflow.lock.model import LockEntry
from seedflow.plan.combos import Combination
from seedflow.plan.diff import Action, make_plan

PIPELINE = """\
    version: 1
    assets:
      a:
        prompt: "a photo {{ n }}"
        output: "a/{{ n }}.png"
        matrix:
          n: [1, 2, 3, 4, 5, 6, 7]
"""
ORPHAN = LockEntry(fingerprint="0" * 32, address="gone[n=9]", asset="gone", provider="apikley",
                   state="succeeded", request={"model": "m", "input": {"prompt": "old"}},
                   task_id="task-9", images=(image("gone/9.png"),))


@pytest.fixture
def scenario(write_pipeline: WritePipeline, tmp_path: Path) -> Path:
    """A pipeline and a lock that give every action once (and two noted creates)."""
    path = write_pipeline(PIPELINE)
    c = {combo.vars["n"]: combo for combo in combos_of(path)}
    for rel in ("a/5.png", "old/4.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"png-bytes")
    write_lock(tmp_path / "p.lock", [
        # n=1: not locked → create
        entry_for(c[2], state="submitted", task_id="task-2"),              # resume
        entry_for(c[3], images=[image("a/3.png")], completed_at=hours_ago(1)),  # restore
        entry_for(c[4], images=[image("old/4.png")]),                       # relink (moved)
        entry_for(c[5], images=[image("a/5.png")]),                         # unchanged
        entry_for(c[6], state="uncertain", task_id=None),                   # create + note
        entry_for(c[7], state="failed", task_id="task-7", error="content policy"),  # create
        ORPHAN,
    ])
    return path


def hours_ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def without_cost(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("Cost:")]


def test_text_plan_shows_every_action(scenario: Path, run: Run) -> None:
    result = run("plan", scenario)
    assert result.code == 0
    assert result.err == ""
    assert without_cost(result.out) == [
        "Pipeline p.yaml · lock p.lock",
        "",
        "  + create   a[n=1]",
        "      a/1.png",
        "  ~ resume   a[n=2]",
        "      a/2.png",
        "      note: task task-2",
        "  ↻ restore  a[n=3]",
        "      a/3.png  (download)",
        "  → relink   a[n=4]",
        "      a/4.png  (copy from old/4.png)",
        "  + create   a[n=6]",
        "      a/6.png",
        "      note: an earlier create may have reached the provider (and been charged); "
        "apply re-submits it only with --retry-uncertain",
        "  + create   a[n=7]",
        "      a/7.png",
        "      note: the last attempt failed: content policy",
        "  - orphan   gone[n=9]",
        "Plan: 3 to create (paid), 1 to resume, 1 to restore, 1 to relink, 1 orphaned, "
        "1 unchanged.",
    ]
    assert "\x1b[" not in result.out


def test_json_plan(scenario: Path, run: Run) -> None:
    result = run("plan", scenario, "--format", "json")
    assert result.code == 0
    data = json.loads(result.out)
    assert data["pipeline"] == "p.yaml" and data["lock"] == "p.lock"
    assert data["summary"] == {"create": 3, "resume": 1, "restore": 1, "relink": 1,
                               "orphan": 1, "unchanged": 1, "modified": 0}
    items = {item["address"]: item for item in data["items"]}
    assert [i["action"] for i in data["items"]] == [
        "create", "resume", "restore", "relink", "unchanged", "create", "create", "orphan"]
    combos = {c.address: c for c in combos_of(scenario)}
    for address, combo in combos.items():
        item = items[address]
        assert item["asset"] == "a"
        assert item["vars"] == {"n": combo.vars["n"]}
        assert item["provider"] == "apikley"
        assert item["request"] == {"model": "bytedance/seedream-v4-text-to-image",
                                   "input": {"prompt": f"a photo {combo.vars['n']}"}}
        assert item["fingerprint"] == combo.fingerprint
        assert item["outputs"] == [f"a/{combo.vars['n']}.png"]
    assert items["a[n=2]"]["task_id"] == "task-2"
    assert items["a[n=3]"]["moves"] == [{"to": "a/3.png", "from": None,
                                         "url": "https://cdn.example/x.png",
                                         "in_store": False}]
    assert items["a[n=4]"]["moves"] == [{"to": "a/4.png", "from": "old/4.png", "url": None,
                                         "in_store": False}]
    assert items["a[n=6]"]["note"].startswith("an earlier create may have reached the provider")
    assert items["a[n=7]"]["note"] == "the last attempt failed: content policy"
    assert "note" not in items["a[n=1]"] and "task_id" not in items["a[n=1]"]
    orphan = items["gone[n=9]"]
    assert orphan == {**orphan, "action": "orphan", "asset": "gone", "vars": None,
                      "provider": "apikley", "request": ORPHAN.request,
                      "fingerprint": "0" * 32, "outputs": ["gone/9.png"]}


def test_markdown_plan(scenario: Path, run: Run) -> None:
    result = run("plan", scenario, "--format", "markdown")
    assert result.code == 0
    request = 'apikley request: {"model": "bytedance/seedream-v4-text-to-image", "input": {}}'
    assert result.out == "\n".join([
        "### seedflow plan: `p.yaml` · lock `p.lock`",
        "",
        "**Plan:** 3 to create (paid), 1 to resume, 1 to restore, 1 to relink, 1 orphaned, "
        "1 unchanged.",
        "",
        "**Cost:** 3 images, estimated 15 credits.",
        "",
        "<details><summary><code>a</code> — 3 to create, 1 to resume, 1 to restore, 1 to "
        "relink</summary>",
        "",
        "```diff",
        "+ create   a[n=1]",
        "      a/1.png",
        "      prompt: a photo 1",
        f"      {request}",
        "~ resume   a[n=2]",
        "      a/2.png",
        "      note: task task-2",
        "↻ restore  a[n=3]",
        "      a/3.png  (download)",
        "→ relink   a[n=4]",
        "      old/4.png → a/4.png",
        "+ create   a[n=6]",
        "      a/6.png",
        "      prompt: a photo 6",
        f"      {request}",
        "      note: an earlier create may have reached the provider (and been charged); apply "
        "re-submits it only with --retry-uncertain",
        "+ create   a[n=7]",
        "      a/7.png",
        "      prompt: a photo 7",
        f"      {request}",
        "      note: the last attempt failed: content policy",
        "```",
        "",
        "</details>",
        "",
        "<details><summary><code>gone</code> — 1 orphaned</summary>",
        "",
        "```diff",
        "- orphan   gone[n=9]",
        "      gone/9.png",
        "```",
        "",
        "</details>",
        "",
    ]) + "\n"


def test_no_changes(write_pipeline: WritePipeline, run: Run, tmp_path: Path) -> None:
    path = write_pipeline(PIPELINE.replace("[1, 2, 3, 4, 5, 6, 7]", "[5]"))
    (combo,) = combos_of(path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a/5.png").write_bytes(b"png-bytes")
    write_lock(tmp_path / "p.lock", [entry_for(combo, images=[image("a/5.png")])])
    result = run("plan", path, "--detailed-exitcode")
    assert result.code == 0
    assert without_cost(result.out) == [
        "Pipeline p.yaml · lock p.lock", "",
        "No changes. Every combination is generated and its files are in place.", "",
        "Plan: 0 to create, 0 to resume, 0 to restore, 0 to relink, 0 orphaned, "
        "1 unchanged."]
    markdown = run("plan", path, "--format", "markdown")
    assert "No changes." in markdown.out and "<details>" not in markdown.out
    # a file changed on disk, whatever its size, is drift: shown, never reverted silently
    for changed in (b"other", b"png-bytez"):   # the second has the recorded size
        (tmp_path / "a/5.png").write_bytes(changed)
        for extra in ((), ("--check-hashes",)):
            drift = run("plan", path, "--detailed-exitcode", *extra)
            assert drift.code == 0   # nothing for apply to do without --force
            assert without_cost(drift.out)[2:4] == [
                "  ! modified a[n=5]", "      a/5.png  (changed on disk since it was generated)"]
            assert ("Drift: 1 generated image changed on disk (apply leaves them; `apply "
                    "--force` restores the generated ones).") in drift.out
    (tmp_path / "a/5.png").unlink()
    assert "  ↻ restore  a[n=5]" in run("plan", path, "--detailed-exitcode").out


def test_a_new_lock_is_marked_new(write_pipeline: WritePipeline, run: Run,
                                  tmp_path: Path) -> None:
    path = write_pipeline(PIPELINE)
    result = run("plan", path)
    assert result.out.splitlines()[0] == "Pipeline p.yaml · lock p.lock (new)"
    assert not (tmp_path / "p.lock").exists()  # plan is read-only


def test_plan_writes_nothing(scenario: Path, run: Run, tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for fmt in ("text", "json", "markdown"):
        assert run("plan", scenario, "--format", fmt).code == 0
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_detailed_exitcode(scenario: Path, write_pipeline: WritePipeline, run: Run,
                           fmt: str) -> None:
    assert run("plan", scenario, "--format", fmt, "--detailed-exitcode").code == 2
    assert run("plan", scenario, "--format", fmt).code == 0
    broken = write_pipeline("version: 1\nassets: {a: {prompt: x}}\n", "broken.yaml")
    failed = run("plan", broken, "--format", fmt, "--detailed-exitcode")
    assert failed.code == 1
    assert failed.out == ""
    assert_no_traceback(failed)


def test_only_unchanged_gives_zero(write_pipeline: WritePipeline, run: Run,
                                   tmp_path: Path) -> None:
    path = write_pipeline(PIPELINE.replace("[1, 2, 3, 4, 5, 6, 7]", "[5]"))
    (combo,) = combos_of(path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a/5.png").write_bytes(b"png-bytes")
    write_lock(tmp_path / "p.lock", [entry_for(combo, images=[image("a/5.png")])])
    for fmt in ("text", "markdown", "json"):
        assert run("plan", path, "--format", fmt, "--detailed-exitcode").code == 0


# --- colour ---------------------------------------------------------------------------------

def fake_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)


def test_colour_only_on_a_terminal(scenario: Path, run: Run,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    assert "\x1b[" not in run("plan", scenario).out  # captured: not a terminal
    fake_tty(monkeypatch)
    coloured = run("plan", scenario).out
    assert "\x1b[32m  + create   a[n=1]" in coloured  # the check can fail
    monkeypatch.setenv("NO_COLOR", "1")
    plain = run("plan", scenario).out
    assert "\x1b[" not in plain
    assert "  + create   a[n=1]" in plain
    for fmt in ("markdown", "json"):
        monkeypatch.delenv("NO_COLOR", raising=False)
        assert "\x1b[" not in run("plan", scenario, "--format", fmt).out


# --- the pure diff --------------------------------------------------------------------------

def combo(n: int, outputs: tuple[str, ...]) -> Combination:
    return Combination(asset="a", address=f"a[n={n}]", provider="sim", vars={"n": n},
                       request={"input": {"prompt": str(n)}}, fingerprint=f"{n:032x}",
                       outputs=outputs, unsent={})


def test_a_task_with_several_images_mixes_restore_and_relink() -> None:
    c = combo(1, ("new/1.png", "new/2.png", "new/3.png"))
    entry = entry_for(c, images=[image("new/1.png"), image("old/2.png"), image("old/3.png")])
    present = {"new/1.png", "old/2.png"}
    plan = make_plan([c], {c.fingerprint: entry}, lambda path, img: path in present)
    (item,) = plan.items
    assert item.action == Action.RESTORE  # any download makes it a restore
    assert [(m.index, m.target, m.source) for m in item.moves] == [
        (1, "new/2.png", "old/2.png"), (2, "new/3.png", None)]


def test_relink_only_when_every_moved_file_has_an_intact_source() -> None:
    c = combo(1, ("new/1.png", "new/2.png"))
    entry = entry_for(c, images=[image("old/1.png"), image("old/2.png")])
    plan = make_plan([c], {c.fingerprint: entry}, lambda path, img: path.startswith("old/"))
    assert plan.items[0].action == Action.RELINK
    assert plan.summary == {"create": 0, "resume": 0, "restore": 0, "relink": 1, "orphan": 0,
                            "unchanged": 0, "modified": 0}
    assert plan.has_work


def test_orphans_come_after_the_spec_in_order() -> None:
    c1, c2 = combo(1, ("1.png",)), combo(2, ("2.png",))
    entries = {f: entry_for(combo(n, (f"{n}.png",)), images=[image(f"{n}.png")])
               for n, f in ((3, f"{3:032x}"), (2, f"{2:032x}"), (4, f"{4:032x}"))}
    plan = make_plan([c1, c2], entries, lambda path, img: True)
    assert [(i.action.value, i.address) for i in plan.items] == [
        ("create", "a[n=1]"), ("unchanged", "a[n=2]"), ("orphan", "a[n=3]"),
        ("orphan", "a[n=4]")]


@pytest.mark.parametrize(("provider", "hours", "note"), [
    ("apikley", 30, "note: at risk: its result URL is 30 hours old and apikley keeps results "
     "for about 24 hours, so the download will probably fail; restore it from a store "
     "(`store:`, see docs/store.md) or pay for it again with `apply --recreate-expired`"),
    ("apikley", 20, None),        # within the documented lifetime
    ("sim", 30, None),            # simulated URLs are served again by each run's simulator
])
def test_a_restore_past_the_providers_url_lifetime_is_shown_at_risk(
        write_pipeline: WritePipeline, tmp_path: Path, run: Run, provider: str, hours: int,
        note: str | None) -> None:
    with_provider = PIPELINE.replace("version: 1\n", f"version: 1\n    provider: {provider}\n")
    path = write_pipeline(with_provider)
    combo = next(c for c in combos_of(path) if c.vars["n"] == 3)
    write_lock(tmp_path / "p.lock", [entry_for(combo, images=[image("a/3.png")],
                                               completed_at=hours_ago(hours))])

    lines = run("plan", path).out.splitlines()

    shown = lines[lines.index("  ↻ restore  a[n=3]") + 2:][:1]
    assert shown == ([f"      {note}"] if note else [shown[0]])
    assert any("at risk" in line for line in lines) is (note is not None)
