"""The shortcuts a 100,000-combination plan takes at its edges give what the long way gives:
paths joined without normpath, paths shown with the current directory looked up once, JSON
written by orjson (the standard encoder for what orjson refuses), the stat cache kept as text,
and no cyclic garbage collection while a plan runs."""

from __future__ import annotations

import gc
import io
import itertools
import json
import os
import posixpath
from pathlib import Path

import pytest
from corekit import TWO_PHOTOS as PIPELINE
from corekit import Run, WritePipeline, combos_of, entry_for, image

from seedflow.lock.decode import LazyRequest, lean_entry
from seedflow.lock.format import lock_text
from seedflow.outputs import OutputRoot, _folder_from_cwd, _from_cwd, path_problem, statcache
from seedflow.outputs.statcache import StatCache, cache_path, stat_key
from seedflow.plan import render
from seedflow.plan.combos import _Paths
from seedflow.plan.diff import Action, Plan, PlanItem
from seedflow.plan.render import plan_json, write_json
from seedflow.project import gc_paused, load_project

STORED = ["x.png", "out/x.png", "../assets/x.png", "../assets/a/b.png", "../assets/./a.png",
          "../assets/../x.png", "../assets//x.png", "a/b/../c.png", ".", "", "a/.h.png",
          "../assets/", "/abs/x.png", "a//b.png", "x/", "out/../../x.png", "a/b/c/d/e.png"]
ROOTS = [("/w/p", "/w/assets"), ("/w/p", "/w/p"), ("/w/p", "/w/p/out"), ("/", "/x")]


@pytest.mark.parametrize(("folder", "output_dir"), ROOTS)
def test_a_target_is_the_normal_path(folder: str, output_dir: str) -> None:
    root = OutputRoot(Path(folder), Path(output_dir))
    target_of = root._target_of()
    for stored in [*STORED, root.prefix + "/q.png"]:
        assert target_of(stored) == os.path.normpath(os.path.join(folder, stored)), stored


@pytest.mark.parametrize("cwd", ["/x", "/x/y", "/", "/x/y/a"])
def test_a_path_is_shown_as_relpath_shows_it(cwd: str) -> None:
    for folder in (Path("."), Path("a"), Path("/x/y"), Path("../q")):
        for stored in [*STORED, "old/1.png", "../z/1.png", "../../1.png", "b/./c.png", "x/.."]:
            assert _from_cwd(folder, stored, cwd) == _folder_from_cwd.__wrapped__(
                folder, stored, cwd), (folder, stored)


def test_gc_is_paused_while_a_plan_runs_and_resumed_after() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()   # the inner pause does not resume it
    assert gc.isenabled()
    with pytest.raises(ValueError), gc_paused():
        raise ValueError
    assert gc.isenabled()


def test_the_stat_cache_keeps_its_text(tmp_path: Path) -> None:
    target = tmp_path / "a.png"
    target.write_bytes(b"x")
    key = stat_key(target.stat())
    cache = StatCache(cache_path(tmp_path / "p.lock"))
    cache.remember("a.png", key, "f" * 64)
    cache.remember("b c.png", (1, -2, 3, 4), "e" * 64)
    cache.save()
    again = StatCache(cache.path)
    assert again.sha256("a.png", key) == "f" * 64
    assert again.sha256("b c.png", (1, -2, 3, 4)) == "e" * 64
    assert again.sha256("a.png", (key[0], key[1] + 1, key[2], key[3])) is None
    assert again.sha256("c.png", key) is None
    lines = cache.path.read_text().splitlines()
    assert lines[1] == f"{'f' * 64} {key[0]} {key[1]} {key[2]} {key[3]} a.png"
    cache.path.write_text(lines[0] + "\n" + lines[1].replace(f" {key[0]} ", f" +{key[0]} ")
                          + "\n")
    assert StatCache(cache.path).sha256("a.png", key) is None   # not as seedflow writes it


def test_json_past_what_orjson_takes_is_written_by_the_standard_encoder(
        write_pipeline: WritePipeline, run: Run, tmp_path: Path) -> None:
    """An entry laid out by hand (so read in full) with a seed past 64 bits, listed as an
    orphan: orjson refuses the integer, the standard encoder writes it."""
    path = write_pipeline(PIPELINE)
    first, _ = combos_of(path)
    old = entry_for(first, images=[image("out/a/1.png")]).evolve(
        fingerprint="f" * 32, address="gone[n=1]", asset="gone",
        request={"input": {"seed": 10**30}})
    by_hand = json.dumps(dict(reversed(list(json.loads(old.line()).items()))))
    Path("p.lock").write_text(lock_text([]) + by_hand + "\n")
    project = load_project(path, spec_only=True)
    out = io.StringIO()
    write_json(project, project.plan(), out)
    written = json.loads(out.getvalue())
    assert written == json.loads(json.dumps(plan_json(project, project.plan())))
    assert written["items"][-1]["request"] == {"input": {"seed": 10**30}}
    assert json.loads(run("plan", path, "--format", "json").out) == written


def test_keys_that_are_not_text_are_written_as_the_standard_encoder_writes_them(
        write_pipeline: WritePipeline, tmp_path: Path) -> None:
    """A matrix value's mapping with numbers and booleans as keys: orjson takes it only with
    its non-text-keys option, and then writes what json.dumps writes."""
    path = write_pipeline(PIPELINE.replace("{n: [1, 2]}", "{n: [{id: 1, 2: two, true: y}]}")
                          .replace("{{ n }}", "{{ n.id }}"))
    project = load_project(path, spec_only=True)
    plan = project.plan()
    write_json(project, plan, out := io.StringIO())
    assert json.loads(out.getvalue()) == json.loads(json.dumps(plan_json(project, plan)))
    assert json.loads(out.getvalue())["items"][0]["vars"] == {"n": {"id": 1, "2": "two",
                                                                   "true": "y"}}


def test_json_goes_to_a_text_stream_s_buffer_after_what_was_already_written(
        write_pipeline: WritePipeline, tmp_path: Path) -> None:
    """Standard output gets orjson's bytes on its binary buffer: text written before them
    still comes first, and the whole is the UTF-8 of what a text-only stream receives."""
    path = write_pipeline(PIPELINE.replace("a photo", "a photo ✓"))
    project = load_project(path, spec_only=True)
    plan = project.plan()
    binary = io.BytesIO()
    stream = io.TextIOWrapper(binary, encoding="utf-8", write_through=False)
    stream.write("before ")
    write_json(project, plan, stream)
    stream.write(" after")
    stream.flush()
    write_json(project, plan, text := io.StringIO())
    assert binary.getvalue().decode() == "before " + text.getvalue() + " after"
    assert "✓" in text.getvalue()


PIECES = ["a", ".", "..", ".h", "", " ", "C:", "x\\y", "x\x00", "p.png", "P.PNG", ".x.png",
          "C:x.png", "..png", "x.txt"]


@pytest.mark.parametrize("root", [".", "../assets", "out"])
def test_outputs_are_judged_per_folder_and_name_as_whole(root: str) -> None:
    """The output rule and normpath, decided once per folder and name, give what they give on
    the whole path (None where path_problem refuses it)."""
    paths = _Paths(root)
    head = "" if root == "." else root + "/"
    for parts in itertools.chain.from_iterable(
            itertools.product(PIECES, repeat=k) for k in (1, 2, 3)):
        for rendered in ("/".join(parts), "/" + "/".join(parts), "/".join(parts) + "/"):
            expected = None if path_problem(rendered) else head + posixpath.normpath(rendered)
            assert paths.stored(rendered) == expected, rendered


def test_a_request_kept_as_text_is_written_as_json(write_pipeline: WritePipeline,
                                                  tmp_path: Path) -> None:
    """An entry's request kept as text (a plan's own entries) still writes as JSON wherever an
    item shows it: orjson and the standard encoder both turn it into the dict it holds."""
    path = write_pipeline(PIPELINE)
    first, _ = combos_of(path)
    entry = entry_for(first, images=[image("out/a/1.png")])
    lean = lean_entry(entry.line())
    assert lean is not None and isinstance(lean.request, LazyRequest)
    project = load_project(path)
    plan = Plan((PlanItem(Action.ORPHAN, None, lean),))
    out = io.StringIO()
    write_json(project, plan, out)
    assert json.loads(out.getvalue())["items"][0]["request"] == dict(first.request)
    huge = lean_entry(entry.evolve(request={"seed": 10**30}).line())
    assert huge is not None
    write_json(project, Plan((PlanItem(Action.ORPHAN, None, huge),)), out := io.StringIO())
    assert json.loads(out.getvalue())["items"][0]["request"] == {"seed": 10**30}


def _old_stat_cache_load(path: Path) -> dict[str, str]:
    """The stat cache's reader before it streamed the file (read whole, split at "\\n")."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    lines = text.split("\n")
    if lines[0] != statcache.HEADER:
        return {}
    known = {}
    for line in lines[1:]:
        parts = line.split(" ", 5)
        if len(parts) == 6 and len(parts[0]) == 64:
            known[parts[5]] = line[:len(line) - len(parts[5]) - 1]
    return known


@pytest.mark.parametrize("body", [
    b"",
    b"\n",
    b"f" * 64 + b" 1 2 3 4 a.png",                            # no newline at the end
    b"f" * 64 + b" 1 2 3 4 a.png\r\n" + b"e" * 64 + b" 1 2 3 4 b c.png\n",
    b"f" * 64 + b" 1 2 3 4 a.png\r" + b"e" * 64 + b" 1 2 3 4 b.png\n\n",
    b"f" * 64 + b" 1 2 3 4\n" + b"g" * 63 + b" 1 2 3 4 x.png\n",   # too few parts, short digest
    b"f" * 64 + b" 1 2 3 4 a.png\n" + b"e" * 64 + b" 1 2 3 4 \xff.png\n",   # not UTF-8
    b"f" * 64 + b"  1 2 3 4 a.png\n" + b"f" * 64 + b" 1 2 3 4 a.png\n",
])
@pytest.mark.parametrize("header", [statcache.HEADER.encode(), b"seedflow-stat-cache 2", b""])
def test_the_stat_cache_reads_as_it_did_whole(tmp_path: Path, header: bytes,
                                               body: bytes) -> None:
    path = tmp_path / "p.lock.stat"
    path.write_bytes(header + b"\n" + body)
    assert statcache._load(path) == _old_stat_cache_load(path)
    path.write_bytes(header + (b"\r\n" if header else b"") + body)
    assert statcache._load(path) == _old_stat_cache_load(path)


@pytest.mark.parametrize("batch", [1, 2, 3, 1_000])
def test_json_written_in_batches_is_the_text_written_item_by_item(
        write_pipeline: WritePipeline, batch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """write_json writes its lines a batch at a time: the text is what writing each line on
    its own gave, whatever the batch size."""
    path = write_pipeline(PIPELINE.replace("[1, 2]", "[1, 2, 3, 4, 5]"))
    project = load_project(path, spec_only=True)
    plan = project.plan()
    monkeypatch.setattr(render, "_BATCH", batch)
    write_json(project, plan, out := io.StringIO())
    show = project.root.shower()
    lines = [render._encoded(render._item_json(show, item)).decode() for item in plan.listed]
    assert out.getvalue().startswith('{"items": [\n' + ",\n".join(lines) + "\n],\n")
    assert len(lines) == 5
