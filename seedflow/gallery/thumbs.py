"""The gallery's file work: thumbnails, copies of the full images, the output folder.

Everything written goes inside the gallery folder: ``thumbs/<sha256>.jpg|png`` (at most
:data:`THUMB_SIDE` pixels on the longest side) and, unless ``link`` is set,
``images/<sha256>.<ext>``. Files are named by the sha256 of the source bytes, so rebuilding
reuses what is there, identical images are stored once, and the output is deterministic.
Only files inside the pipeline's ``output_dir`` are read (the lockfile comes from pull
requests too: a path in it must not smuggle e.g. ``/etc/passwd`` into a CI artifact).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from PIL import Image, ImageOps, UnidentifiedImageError

from seedflow.errors import SeedflowError
from seedflow.gallery.build import Media
from seedflow.outputs import OutputRoot

THUMB_SIDE = 320
MAX_PIXELS = 50_000_000   # as downloads (seedflow.apply.download); decoding one costs ~4 B/pixel
JPEG_QUALITY = 85
THUMBS = "thumbs"
IMAGES = "images"
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif", "BMP": "bmp",
              "TIFF": "tiff", "AVIF": "avif"}
_OURS = re.compile(r"^[0-9a-f]{64}\.[a-z0-9]{1,5}$")


def prepare_folder(out: Path, *, link: bool) -> None:
    """Create the gallery folder and the subfolders it will write to; refuse a file, or a
    subfolder that is a symlink (writes would land outside the gallery folder)."""
    if out.exists() and not out.is_dir():
        raise SeedflowError(f"{out} exists and is not a folder; pass a folder for the gallery")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in (THUMBS, IMAGES):
            sub = out / name
            if sub.is_symlink() or (sub.exists() and not sub.is_dir()):
                raise SeedflowError(f"{sub} is not a plain folder; the gallery writes only "
                                    f"inside {out}, so remove it or pick another folder")
            if name == THUMBS or not link:
                sub.mkdir(exist_ok=True)
    except OSError as exc:
        raise SeedflowError(f"cannot create the gallery folder {out}: {exc.strerror}") from None


def materialize(sources: Iterable[str], *, root: OutputRoot, out: Path,
                link: bool) -> dict[str, Media | str]:
    """Thumbnail (and copy, or link) each source file (a stored path), which must lie inside
    output_dir. Maps each source to its :class:`Media`, or to why it cannot be
    shown. Stale sha256-named files from earlier builds are removed."""
    result: dict[str, Media | str] = {}
    written: set[Path] = set()
    for source in sources:
        media = _one(source, root, out, link)
        if isinstance(media, Media):
            written.add(out / media.thumb)
            if not link:
                written.add(out / media.full)
        result[source] = media
    prune(out, keep=written)
    return result


def _one(source: str, root: OutputRoot, out: Path, link: bool) -> Media | str:
    if not root.holds(source):
        return "the file is outside the pipeline's output_dir"
    path = root.file(source)
    try:
        data = path.resolve().read_bytes()
    except OSError as exc:
        return f"cannot read the file ({exc.strerror})"
    full = _relative_href(path.absolute(), out.absolute()) if link else None
    return media_of_bytes(data, out, full=full)


def media_of_bytes(data: bytes, out: Path, *, full: str | None = None) -> Media | str:
    """Thumbnail ``data`` into the gallery folder ``out`` and copy it to ``images/`` (unless
    ``full`` already says where the full image is); its :class:`Media`, or why it cannot be
    shown. The image's size is checked before anything is decoded."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        with warnings.catch_warnings():  # the size is checked below, before any decoding
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        with image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                return (f"too large to thumbnail ({width}×{height} pixels; the limit is "
                        f"{MAX_PIXELS // 1_000_000} megapixels)")
            ext = EXTENSIONS.get(image.format or "", "img")
            thumb, size = _thumbnail(image, digest, out)
    except Image.DecompressionBombError:
        return f"too large to thumbnail (the limit is {MAX_PIXELS // 1_000_000} megapixels)"
    except (OSError, UnidentifiedImageError, ValueError):
        return "not a readable image"
    if full is None:
        full = f"{IMAGES}/{digest}.{ext}"
        _write_once(out / full, data)
    return Media(thumb=thumb, full=full, width=size[0], height=size[1], sha256=digest)


def _thumbnail(image: Image.Image, digest: str, out: Path) -> tuple[str, tuple[int, int]]:
    """The thumbnail's href and size, made only if an earlier build did not make it."""
    alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    name = f"{THUMBS}/{digest}.{'png' if alpha else 'jpg'}"
    target = out / name
    if target.is_file():
        try:
            with Image.open(target) as done:
                return name, done.size
        except (OSError, UnidentifiedImageError):
            pass  # a broken leftover: make it again
    small = ImageOps.exif_transpose(image)
    small = small.convert("RGBA" if alpha else "RGB")
    small.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if alpha:
        small.save(buffer, "PNG", optimize=True)
    else:
        small.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=False)
    _write(target, buffer.getvalue())
    return name, small.size


def _relative_href(target: Path, base: Path) -> str:
    """A URL-quoted link from the gallery folder to ``target`` (a file: URI across drives)."""
    try:
        rel = os.path.relpath(target, base)
    except ValueError:
        return target.as_uri()
    return quote(rel.replace(os.sep, "/"))


def _write_once(path: Path, data: bytes) -> None:
    """Write ``data`` unless the file already holds it (names are content hashes)."""
    try:
        if path.stat().st_size == len(data):
            return
    except OSError:
        pass
    _write(path, data)


def _write(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder, so a reader never sees half a file."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)


def write_text(path: Path, text: str) -> None:
    _write(path, text.encode("utf-8"))


def prune(out: Path, *, keep: set[Path]) -> None:
    """Remove sha256-named files of earlier builds that this build does not use."""
    for name in (THUMBS, IMAGES):
        folder = out / name
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if _OURS.match(path.name) and path.is_file() and path not in keep:
                path.unlink()
