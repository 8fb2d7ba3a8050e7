"""Output paths: confined to output_dir, collision-free, stored relative to the pipeline folder
and shown relative to the current directory."""

from __future__ import annotations

import json
import os
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
from limitkit import snapshot

DOTDOT = ("`..` is not allowed in output paths (they must stay inside output_dir); write "
          "the path without it")
HIDDEN = ("`{}` starts with a dot: output paths may not name hidden files or folders (.git, "
          ".github, ...); rename it")
SUFFIX = "an output must end in .png, .jpg, .jpeg or .webp; change the template's file name"


def pipeline(output: str, name: str = "../../etc/x") -> str:
    quoted = output.replace("\\", "\\\\").replace('"', '\\"')
    return f"""\
version: 1
vars:
  empty: ""
  hidden: .hidden
  name: "{name}"
assets:
  a:
    prompt: a photo
    output: "{quoted}"
"""


BAD = {
    "absolute": ("/abs/a.png", "output renders '/abs/a.png': an absolute path; outputs must be "
                               "relative to output_dir"),
    "drive-letter": ("C:/x.png", "output renders 'C:/x.png': an absolute path; outputs must be "
                                 "relative to output_dir"),
    "dotdot": ("../a.png", "output renders '../a.png': " + DOTDOT),
    "dotdot-after-a-folder": ("a/../../x.png", "output renders 'a/../../x.png': " + DOTDOT),
    "dotdot-from-a-variable": ("{{ name }}.png", "output renders '../../etc/x.png': " + DOTDOT),
    "trailing-dotdot": ("a/..", "output renders 'a/..': " + DOTDOT),
    "backslash": ("a\\b.png", "output renders 'a\\\\b.png': backslashes and NUL characters are "
                              "not allowed in paths; use `/`"),
    "empty": ("{{ empty }}", "output renders '': an empty path"),
    "blank": ("  {{ empty }} ", "output renders '   ': an empty path"),
    "only-dot": ("./.", "output renders './.': not a file path"),
    "dot-git": (".git/hooks/pre-commit.png",
                "output renders '.git/hooks/pre-commit.png': " + HIDDEN.format(".git")),
    "dot-github-inside": ("a/.github/workflows/ci.png",
                          "output renders 'a/.github/workflows/ci.png': "
                          + HIDDEN.format(".github")),
    "dot-folder-from-a-variable": ("{{ hidden }}/x.png",
                                   "output renders '.hidden/x.png': " + HIDDEN.format(".hidden")),
    "hidden-file": ("a/.x.png", "output renders 'a/.x.png': " + HIDDEN.format(".x.png")),
    "script": ("hooks/post-merge.sh", "output renders 'hooks/post-merge.sh': " + SUFFIX),
    "no-suffix": ("a/b", "output renders 'a/b': " + SUFFIX),
    "suffix-only-in-a-folder": ("x.png/run", "output renders 'x.png/run': " + SUFFIX),
}


@pytest.mark.parametrize("output, message", BAD.values(), ids=BAD.keys())
def test_bad_output_paths_are_refused(write_pipeline: WritePipeline, run: Run, output: str,
                                      message: str, tmp_path: Path) -> None:
    path = write_pipeline(pipeline(output))
    result = run("validate", path)
    assert result.code == 1
    assert result.err == f"p.yaml:9:13: {message}\n1 of 1 pipeline files are invalid.\n"
    assert_no_traceback(result)
    assert [p.name for p in tmp_path.iterdir()] == ["p.yaml"]


def test_a_matrix_value_cannot_smuggle_an_escape(write_pipeline: WritePipeline,
                                                 run: Run) -> None:
    path = write_pipeline("""\
        version: 1
        assets:
          a:
            prompt: "a photo of {{ thing }}"
            output: "things/{{ thing }}.png"
            matrix:
              thing: [cat, ../../../home/me/.bashrc, dog]
    """)
    result = run("validate", path)
    assert result.code == 1
    assert result.err == (
        "p.yaml:5:13: output renders 'things/../../../home/me/.bashrc.png': " + DOTDOT +
        "\n1 of 1 pipeline files are invalid.\n")


@pytest.mark.parametrize("output, stored", [
    ("./a.png", "a.png"), ("x//y/./z.png", "x/y/z.png"), ("~/a.png", "~/a.png"),
    ("dir/{{ empty }}/a.png", "dir/a.png"), ("A.JPG", "A.JPG"), ("a.b/c.jpeg", "a.b/c.jpeg"),
    ("x.webp", "x.webp")])
def test_harmless_paths_are_normalised(write_pipeline: WritePipeline, output: str,
                                       stored: str) -> None:
    (combo,) = combos_of(write_pipeline(pipeline(output)))
    assert combo.outputs == (stored,)


def test_paths_that_normalise_to_the_same_file_collide(write_pipeline: WritePipeline,
                                                       run: Run) -> None:
    path = write_pipeline("""\
        version: 1
        assets:
          a:
            prompt: "one"
            output: "x/a.png"
          b:
            prompt: "two"
            output: "./x//a.png"
    """)
    result = run("validate", path)
    assert result.code == 1
    assert result.err == ("p.yaml:8:13: output path x/a.png is written by both a and b; make "
                          "the output template use the axes that differ\n"
                          "1 of 1 pipeline files are invalid.\n")


def test_collision_between_images_of_different_tasks(write_pipeline: WritePipeline,
                                                     run: Run) -> None:
    path = write_pipeline("""\
        version: 1
        assets:
          a:
            prompt: "a {{ n }}"
            images: 2
            output: "{{ n + index }}.png"
            matrix:
              n: [1, 2]
    """)
    result = run("validate", path)
    assert result.code == 1
    assert result.err == ("p.yaml:6:13: output path 3.png is written by both a[n=1] and a[n=2]; "
                          "make the output template use the axes that differ\n"
                          "1 of 1 pipeline files are invalid.\n")


LAYOUT = """\
    version: 1
    output_dir: ../assets
    assets:
      hero:
        prompt: "a {{ scene }}"
        output: "hero/{{ scene | slug }}.png"
        matrix:
          scene: [Lighthouse, Forest Cabin]
"""


def test_output_dir_outside_the_pipeline_folder(write_pipeline: WritePipeline,
                                                run: Run) -> None:
    path = write_pipeline(LAYOUT, "pipelines/p.yaml")
    combos = combos_of(path)
    # stored relative to the pipeline's folder (what the lock records)
    assert [c.outputs for c in combos] == [("../assets/hero/lighthouse.png",),
                                           ("../assets/hero/forest-cabin.png",)]
    result = run("plan", path, "--format", "json")
    assert result.code == 0
    items = json.loads(result.out)["items"]
    # shown relative to the current directory
    assert [i["outputs"] for i in items] == [["assets/hero/lighthouse.png"],
                                             ["assets/hero/forest-cabin.png"]]


@pytest.mark.parametrize("cwd, shown", [
    (".", "assets/hero/lighthouse.png"),
    ("pipelines", "../assets/hero/lighthouse.png"),
    ("assets/hero", "lighthouse.png"),
    ("elsewhere/deep", "../../assets/hero/lighthouse.png")])
def test_plan_outputs_are_relative_to_the_current_directory(
        write_pipeline: WritePipeline, run: Run, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, cwd: str, shown: str) -> None:
    write_pipeline(LAYOUT, "pipelines/p.yaml")
    (tmp_path / cwd).mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(tmp_path / cwd)
    pipeline_arg = Path(tmp_path / "pipelines/p.yaml").relative_to(tmp_path / cwd) \
        if cwd == "." else tmp_path / "pipelines" / "p.yaml"
    result = run("plan", pipeline_arg, "--format", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["items"][0]["outputs"] == [shown]
    text = run("plan", pipeline_arg)
    assert f"      {shown}\n" in text.out


def test_locked_outputs_are_found_whatever_the_current_directory(
        write_pipeline: WritePipeline, run: Run, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_pipeline(LAYOUT, "pipelines/p.yaml")
    entries = []
    for combo in combos_of(path):
        (target,) = combo.outputs
        (tmp_path / "pipelines" / target).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pipelines" / target).write_bytes(b"png-bytes")
        entries.append(entry_for(combo, images=[image(target)]))
    write_lock(tmp_path / "pipelines" / "p.lock", entries)
    for cwd in (".", "pipelines", "assets"):
        monkeypatch.chdir(tmp_path / cwd)
        result = run("plan", tmp_path / "pipelines" / "p.yaml", "--detailed-exitcode")
        assert result.code == 0, result.out
        assert "No changes." in result.out


def test_output_dir_default_is_the_pipeline_folder(write_pipeline: WritePipeline) -> None:
    path = write_pipeline(LAYOUT.replace("    output_dir: ../assets\n", ""), "pipelines/p.yaml")
    assert [c.outputs for c in combos_of(path)] == [("hero/lighthouse.png",),
                                                    ("hero/forest-cabin.png",)]


def test_images_get_one_path_each(write_pipeline: WritePipeline) -> None:
    path = write_pipeline("""\
        version: 1
        output_dir: out
        assets:
          a:
            provider: modellix
            prompt: a set of three
            images: 3
            output: "set/{{ index }}.png"
    """)
    (combo,) = combos_of(path)
    assert combo.outputs == ("out/set/1.png", "out/set/2.png", "out/set/3.png")


@pytest.mark.parametrize(("output_dir", "what"), [
    ("..", "contains"), ("../.git", "is"), ("../.git/hooks", "is inside"),
    ("../link-to-git", "is")])
def test_output_dir_cannot_be_or_contain_the_repository_git(
        write_pipeline: WritePipeline, run: Run, tmp_path: Path, output_dir: str,
        what: str) -> None:
    (tmp_path / ".git" / "hooks").mkdir(parents=True)
    (tmp_path / "link-to-git").symlink_to(tmp_path / ".git")
    path = write_pipeline(LAYOUT.replace("../assets", output_dir), "pipelines/p.yaml")
    before = snapshot(tmp_path)
    git = Path(os.path.realpath(tmp_path / ".git"))
    for command in (["validate"], ["plan"], ["apply", "--yes"]):
        result = run(*command, path)
        assert result.code == 1, result.text
        assert (f"pipelines/p.yaml:2:13: output_dir {output_dir!r} {what} the repository's "
                f".git ({git}); give outputs a folder of their own (e.g. ../assets)"
                in result.err)
        assert_no_traceback(result)
    assert snapshot(tmp_path) == before


def test_a_pipeline_at_the_repository_root_needs_an_output_folder(
        write_pipeline: WritePipeline, run: Run, tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    bare = LAYOUT.replace("    output_dir: ../assets\n", "")
    result = run("validate", write_pipeline(bare))
    assert result.code == 1
    assert "output_dir '.' contains the repository's .git" in result.err
    placed = bare.replace("version: 1\n", "version: 1\n    output_dir: assets\n")
    assert run("validate", write_pipeline(placed)).code == 0


LOCKED_PATH = ("pipelines/p.lock:{line}: entry {address} records the image path {path!r}: "
               "{problem}. seedflow never writes there, so the line was edited by hand; "
               "restore the lockfile from git (`git checkout -- pipelines/p.lock`). Nothing "
               "was done")


@pytest.mark.parametrize(("stored", "problem"), [
    ("../assets/.git/config.png", HIDDEN.format(".git")),
    ("../assets/hero/.github/workflows/ci.png", HIDDEN.format(".github")),
    ("../assets/hero/run.sh", SUFFIX),
    ("../assets/./hero/x.png", "not in normal form (seedflow records ../assets/hero/x.png)"),
    ("../assets/hero/../../assets/x.png", DOTDOT),
])
def test_a_lock_path_that_seedflow_would_never_write_is_refused(
        write_pipeline: WritePipeline, run: Run, tmp_path: Path, stored: str,
        problem: str) -> None:
    """A lock-only edit (a path, a URL, a matching sha256) must not make apply restore, relink,
    pull or prune anything at a path the output rule refuses."""
    path = write_pipeline(LAYOUT, "pipelines/p.yaml")
    first, second = combos_of(path)
    (tmp_path / "assets" / "hero").mkdir(parents=True)
    (tmp_path / "assets" / "hero" / "lighthouse.png").write_bytes(b"png-bytes")
    write_lock(tmp_path / "pipelines" / "p.lock", [
        entry_for(first, images=[image(first.outputs[0])]),
        entry_for(second, images=[image(stored)])])
    before = snapshot(tmp_path)
    message = LOCKED_PATH.format(line=2, address=second.address, path=stored, problem=problem)
    for command in (["plan"], ["apply", "--yes"], ["verify"], ["pull"],
                    ["prune", "--files", "--yes"]):
        result = run(*command, path)
        assert result.code == 1, result.text
        assert result.err == f"error: {message}\n", command
        assert_no_traceback(result)
    assert snapshot(tmp_path) == before


def test_a_lock_path_outside_output_dir_is_left_alone(write_pipeline: WritePipeline, run: Run,
                                                     tmp_path: Path) -> None:
    """An earlier output_dir's paths stay in the lock: they are never read, written or deleted
    (the image is restored to the current output instead), so they are no error."""
    path = write_pipeline(LAYOUT, "pipelines/p.yaml")
    entries = [entry_for(c, images=[image(f"../old/{Path(c.outputs[0]).name}")])
               for c in combos_of(path)]
    write_lock(tmp_path / "pipelines" / "p.lock", entries)
    result = run("plan", path)
    assert result.code == 0, result.err
    assert "2 to restore" in result.out
