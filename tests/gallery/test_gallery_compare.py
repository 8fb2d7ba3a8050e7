"""``seedflow gallery --compare REF``: the lock at a git ref against the working lock."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from galleryutil import COMPARED, committed_project, generated, git, load

from seedflow.cli import main
from seedflow.gallery.compare import Change, diff_locks, edits, word_diff
from seedflow.lock.model import LockedImage

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytest.fixture(autouse=True)
def fast_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEEDFLOW_SIM_LATENCY", "0.02")
    monkeypatch.setenv("SEEDFLOW_POLL_INTERVAL", "0.02")
    monkeypatch.delenv("SEEDFLOW_STORE", raising=False)


def compare(path: Path, out: Path, ref: str, *extra: str) -> int:
    return main(["gallery", str(path), "-o", str(out), "--compare", ref, *extra])


def pairs(html: str) -> dict[str, str]:
    """Each changed combination's <article>, by address."""
    return dict(re.findall(r'<article class="pair" data-address="([^"]+)">(.*?)</article>',
                           html))


# ---- the diff (pure) -------------------------------------------------------------------------

def test_diff_pairs_by_fingerprint_then_by_address(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    path = tmp_path / "p" / "catalog.yaml"
    path.write_text(COMPARED, encoding="utf-8")
    project = load(path)
    one, two, three, four = (generated(project, c, write=False)
                             for c in project.combinations[:4])
    image = LockedImage(one.images[0].path, "e" * 64, 10, "u")
    regenerated = one.evolve(images=(image,))
    reprompted = two.evolve(fingerprint="9" * 32, request={**two.request, "prompt": "new"})
    before = {e.fingerprint: e for e in (one, two, three, four)}
    after = {e.fingerprint: e for e in (regenerated, reprompted, three)}
    extra = generated(project, project.combinations[5], write=False)
    after[extra.fingerprint] = extra
    found = diff_locks(before, after)
    assert found.unchanged == 1
    assert [(d.change, d.address) for d in found.differences] == [
        *((Change.CHANGED, a) for a in sorted([one.address, two.address])),
        (Change.ADDED, extra.address), (Change.REMOVED, four.address)]
    assert edits(one, regenerated) == (("image", "generated before",
                                        "generated again (same request)"),)


def test_edits_name_each_changed_value_and_the_prompt_words() -> None:
    from seedflow.lock.model import LockEntry

    old = LockEntry("a" * 32, "s[x=1]", "s", "sim", "succeeded",
                    {"model": "m", "input": {"prompt": "a mug in sage green", "seed": 11}})
    new = old.evolve(fingerprint="b" * 32,
                     request={"model": "m", "input": {"prompt": "a mug in terracotta",
                                                      "seed": 12}})
    assert edits(old, new) == (("prompt", "a mug in sage green", "a mug in terracotta"),
                               ("input.seed", "11", "12"))
    assert word_diff("a mug in sage green", "a mug in terracotta") == [
        ("=", "a mug in"), ("-", "sage green"), ("+", "terracotta")]


# ---- end to end ------------------------------------------------------------------------------

def test_changed_added_and_removed_with_before_images_from_git(tmp_path: Path) -> None:
    path = committed_project(tmp_path / "repo")
    out = tmp_path / "cmp"
    assert compare(path, out, "main") == 0
    html = (out / "index.html").read_text(encoding="utf-8")
    found = pairs(html)
    assert sorted(found) == [f"shots[product.id=mug, aspect={a}]" for a in ("16:9", "1:1", "9:16")]
    for body in found.values():
        before, after = body.split('<div class="side after">')
        thumbs = [re.findall(r'<img class="thumb" src="([^"]+)"', side) for side in (before,
                                                                                    after)]
        assert len(thumbs[0]) == 1 and len(thumbs[1]) == 1 and thumbs[0] != thumbs[1]
        assert "<del>sage green,</del> <ins>terracotta,</ins>" in body
    added = html.split('id="added"')[1].split("</section>")[0]
    removed = html.split('id="removed"')[1].split("</section>")[0]
    assert added.count('class="card') == 3 and "product.id=fern" in added
    assert removed.count('class="card') == 1 and "product.id=vase, aspect=9:16" in removed
    assert "<strong>5</strong> unchanged" in html
    assert 'class="placeholder"' not in html
    # every image shown was copied in: the folder is self-contained
    for href in re.findall(r'(?:src|href)="((?:thumbs|images)/[^"]+)"', html):
        assert (out / href).is_file()


def test_before_images_from_the_store_or_a_placeholder(tmp_path: Path) -> None:
    lock_only = ("catalog.yaml", "catalog.lock")
    path = committed_project(tmp_path / "plain", commit=lock_only)
    assert compare(path, tmp_path / "a", "main") == 0
    html = (tmp_path / "a" / "index.html").read_text(encoding="utf-8")
    for body in pairs(html).values():
        before = body.split('<div class="side after">')[0]
        assert 'class="placeholder"' in before and "seedflow pull" in before
        assert '<img class="thumb"' not in before
    (tmp_path / "stored" / "store").mkdir(parents=True)
    path = committed_project(tmp_path / "stored", commit=lock_only, extra="store: store\n")
    assert compare(path, tmp_path / "b", "main") == 0
    html = (tmp_path / "b" / "index.html").read_text(encoding="utf-8")
    assert len(pairs(html)) == 3 and 'class="placeholder"' not in html


def test_a_ref_without_the_lock_shows_everything_as_added(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README").write_text("hello")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", "start")
    path = committed_project(repo)
    assert compare(path, tmp_path / "cmp", "main~1") == 0
    html = (tmp_path / "cmp" / "index.html").read_text(encoding="utf-8")
    assert "main~1 has no <code>catalog.lock</code>: every image counts as added" in html
    assert "<strong>11</strong> added" in html and "<strong>0</strong> changed" in html


@pytest.mark.parametrize(("ref", "extra", "message"), [
    ("nope", (), "error: --compare `nope`: no such branch, tag or commit in "),
    ("--upload-pack=x", (), "error: --compare `--upload-pack=x`: not a git ref"),
    ("main", ("--plan",), "error: --compare makes a before/after page and does not take --plan"),
])
def test_bad_refs_and_options_exit_1_and_write_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], ref: str, extra: tuple[str, ...],
        message: str) -> None:
    path = committed_project(tmp_path / "repo")
    capsys.readouterr()
    out = tmp_path / "cmp"
    assert compare(path, out, ref, *extra) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and "Traceback" not in err
    assert not out.exists()


def test_not_a_git_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "p").mkdir()
    path = tmp_path / "p" / "catalog.yaml"
    path.write_text(COMPARED, encoding="utf-8")
    out = tmp_path / "cmp"
    assert compare(path, out, "main") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --compare needs a git repository, and ")
    assert "run it in a clone of the project" in err and not out.exists()


def test_a_corrupt_lock_at_the_ref_is_refused(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = committed_project(tmp_path / "repo")
    repo = path.parent
    good = (repo / "catalog.lock").read_text(encoding="utf-8")
    (repo / "catalog.lock").write_text(good + "<<<<<<< HEAD\n", encoding="utf-8")
    git(repo, "commit", "-q", "-am", "broken")
    (repo / "catalog.lock").write_text(good, encoding="utf-8")
    capsys.readouterr()
    assert compare(path, tmp_path / "cmp", "HEAD") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "catalog.lock at HEAD" in err
    assert "Traceback" not in err and not (tmp_path / "cmp").exists()


def test_images_outside_output_dir_at_the_ref_are_never_read(tmp_path: Path) -> None:
    """The lock at the ref comes from a pull request: its paths must not smuggle a file from
    the repository (or anywhere) into the artifact."""
    path = committed_project(tmp_path / "repo")
    repo = path.parent
    secret = b"top secret bytes"
    (repo / "secret.png").write_bytes(secret)
    lock = (repo / "catalog.lock").read_text(encoding="utf-8")
    (repo / "catalog.lock").write_text(
        re.sub(r'"path":"assets/mug/1x1\.png"', '"path":"secret.png"', lock), encoding="utf-8")
    git(repo, "add", "secret.png", "catalog.lock")
    git(repo, "commit", "-q", "-m", "evil")
    (repo / "catalog.lock").write_text(lock, encoding="utf-8")
    out = tmp_path / "cmp"
    assert compare(path, out, "HEAD") == 0
    html = (out / "index.html").read_text(encoding="utf-8")
    # the entry is listed (as a placeholder), its "image" never read
    removed = html.split('id="removed"')[1]
    assert "<code>secret.png</code>" in removed
    assert '<img class="thumb"' not in removed.split("<code>secret.png</code>")[0].rsplit(
        "<figure", 1)[1]
    assert all(secret not in p.read_bytes() for p in out.rglob("*") if p.is_file())
