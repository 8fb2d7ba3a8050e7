"""The gallery on disk: the folder it writes, thumbnails, copies or links, and its limits."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from galleryutil import WritePipeline, generated, load, png_bytes, with_entries
from PIL import Image

from seedflow.commands.gallery import gallery
from seedflow.errors import SeedflowError
from seedflow.gallery import write_gallery
from seedflow.gallery.thumbs import THUMB_SIDE
from seedflow.lock.model import LockedImage, LockEntry
from seedflow.project import Project

PIPELINE = """
assets:
  shots:
    prompt: "Photo of {{ product }}"
    matrix:
      product: [mug, lamp]
      aspect: ["1:1", "16:9"]
    output: "{{ product }}/{{ aspect | slug }}.png"
"""


def snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_relative_to(skip)}


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def hrefs(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="([^"#]+)"', html)


@pytest.fixture
def project(write_pipeline: WritePipeline) -> Project:
    loaded = load(write_pipeline(PIPELINE))
    entries = [generated(loaded, c, size=(960, 540)) for c in loaded.combinations[:3]]
    return with_entries(loaded, entries)


def test_copies_images_thumbnails_and_writes_only_inside_dir(project: Project,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "site" / "gallery"
    before = snapshot(tmp_path, out)
    index = write_gallery(project, out)
    assert index == out / "index.html"
    assert snapshot(tmp_path, out) == before
    html = index.read_text(encoding="utf-8")
    links = hrefs(html)
    # per image: the thumbnail, the full-size view and its "open the file" link
    assert len(links) == 3 * 3 and all((out / unquote(h)).is_file() for h in links)
    for entry in project.lock.entries.values():
        image = entry.images[0]
        copy = out / "images" / f"{image.sha256}.png"
        assert copy.read_bytes() == (project.pipeline.folder / image.path).read_bytes()
        with Image.open(out / "thumbs" / f"{image.sha256}.jpg") as thumb:
            assert thumb.size == (THUMB_SIDE, 180)
    assert html.count('class="placeholder"') == 1 and 'class="warning"' not in html
    assert sorted(p.name for p in out.iterdir()) == ["images", "index.html", "thumbs"]


def test_rebuild_is_byte_identical_and_prunes_stale_files(project: Project,
                                                          tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    write_gallery(project, first, plan_mode=True)
    stale = first / "thumbs" / f"{'0' * 64}.jpg"
    stale.write_bytes(b"old")
    mine = first / "thumbs" / "notes.txt"
    mine.write_text("kept")
    write_gallery(project, first, plan_mode=True)
    write_gallery(project, second, plan_mode=True)
    assert not stale.exists() and mine.exists()
    mine.unlink()
    assert files(first) == files(second)


def test_link_mode_points_at_the_files_in_output_dir(project: Project, tmp_path: Path) -> None:
    out = tmp_path / "gallery"
    write_gallery(project, out)            # a copy first: link mode removes the copies
    index = write_gallery(project, out, link=True)
    html = index.read_text(encoding="utf-8")
    full = re.findall(r'<a href="([^"]+)">open the file</a>', html)
    assert len(full) == 3 and all(h.startswith("../p/out/") for h in full)
    assert all((out / unquote(h)).resolve().is_file() for h in full)
    assert not list((out / "images").iterdir())


def test_refuses_a_file_as_dir_and_a_symlinked_subfolder(project: Project,
                                                         tmp_path: Path) -> None:
    target = tmp_path / "gallery.html"
    target.write_text("mine")
    with pytest.raises(SeedflowError, match="is not a folder"):
        write_gallery(project, target)
    assert target.read_text() == "mine"
    out = tmp_path / "g"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "thumbs").symlink_to(elsewhere)
    with pytest.raises(SeedflowError, match="not a plain folder"):
        write_gallery(project, out)
    assert not list(elsewhere.iterdir())


def test_lock_paths_outside_output_dir_are_never_read(write_pipeline: WritePipeline,
                                                      tmp_path: Path) -> None:
    """The lock comes from pull requests too: it must not smuggle files into the artifact."""
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes((50, 50)))
    data = secret.read_bytes()
    image = LockedImage("../secret.png", hashlib.sha256(data).hexdigest(), len(data), "u")
    loaded = load(write_pipeline(PIPELINE))
    combo = loaded.combinations[0]
    relink = generated(loaded, combo, write=False)
    relink = relink.evolve(images=(image,))        # "moved" from ../secret.png
    orphan = LockEntry("f" * 32, "gone[x=1]", "gone", "sim", "succeeded", {"prompt": "x"},
                       task_id="t1", images=(image,))
    project = with_entries(loaded, [relink, orphan])
    # a path outside output_dir is never trusted as a copy source: a free re-download instead
    assert project.plan().summary["restore"] == 1
    out = tmp_path / "gallery"
    html = write_gallery(project, out, plan_mode=True).read_text(encoding="utf-8")
    assert html.count("the file is outside the pipeline&#x27;s output_dir") == 1  # the orphan
    assert "<img " not in html
    assert all(data not in p.read_bytes() for p in out.rglob("*") if p.is_file())


def test_unreadable_images_and_transparency(write_pipeline: WritePipeline,
                                            tmp_path: Path) -> None:
    loaded = load(write_pipeline(PIPELINE))
    broken, clear = (generated(loaded, c) for c in loaded.combinations[:2])
    (loaded.pipeline.folder / broken.images[0].path).write_bytes(b"\x89PNG nope" * 100)
    broken = broken.evolve(images=(LockedImage(broken.images[0].path, "a" * 64, 900, "u"),))
    rgba = png_bytes((200, 400), mode="RGBA")
    (loaded.pipeline.folder / clear.images[0].path).write_bytes(rgba)
    clear = clear.evolve(images=(LockedImage(clear.images[0].path, "b" * 64, len(rgba), "u"),))
    out = tmp_path / "gallery"
    html = write_gallery(with_entries(loaded, [broken, clear]), out).read_text(encoding="utf-8")
    assert "not a readable image" in html
    # shown, but flagged: its bytes are not what the lock recorded
    assert html.count("differs from the image the lockfile records") == 1
    (thumb,) = (out / "thumbs").iterdir()
    assert thumb.suffix == ".png"
    with Image.open(thumb) as small:
        assert small.size == (160, THUMB_SIDE) and small.mode == "RGBA"


def test_command_prints_the_index_path(project: Project, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g"
    code = gallery(project.pipeline.path, out=out, rows="aspect", cols=None, plan_mode=False,
                   lock_path=None)
    assert code == 0
    assert capsys.readouterr().out.strip() == str(out / "index.html")
    assert os.path.getsize(out / "index.html") > 0
