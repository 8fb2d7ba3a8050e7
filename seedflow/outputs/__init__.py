"""``output_dir``: the one owner of where images may be, how they are checked and shown.

Paths in the spec and the lock are *stored paths*: relative to the pipeline's folder, with ``/``
separators (``../assets/catalog/hero/a-1.png``). :class:`OutputRoot` turns them into files,
decides whether they are inside ``output_dir`` (the security rule: a lockfile or pipeline from a
pull request must never make seedflow read or write elsewhere), and shows them to people
relative to the current directory. :func:`path_problem` is the one rule for a path inside
output_dir: the spec's rendered outputs and the paths a lock records both answer to it.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from seedflow.errors import SeedflowError
from seedflow.lock.model import LockedImage
from seedflow.outputs.statcache import StatCache, stat_key

CHUNK = 1 << 20
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")

# (stored path, locked image) → is the file there and intact?
OutputCheck = Callable[[str, LockedImage], bool]


class OutsideOutputDir(SeedflowError):
    """A stored path resolves outside output_dir (a planted symlink, for instance)."""


def path_problem(path: str) -> str | None:
    """Why ``path`` (relative to output_dir, as an output template renders it) may not name an
    image, or None. It stays inside output_dir, names no hidden file or folder (``.git``,
    ``.github``: a pull request must not write where git or CI looks) and ends in an image
    suffix (so never a script or a config file)."""
    if not path.strip():
        return "an empty path"
    if "\x00" in path or "\\" in path:
        return "backslashes and NUL characters are not allowed in paths; use `/`"
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return "an absolute path; outputs must be relative to output_dir"
    parts = path.split("/")
    if ".." in parts:
        return ("`..` is not allowed in output paths (they must stay inside output_dir); "
                "write the path without it")
    if posixpath.normpath(path) in (".", ""):
        return "not a file path"
    hidden = [part for part in parts if part.startswith(".") and part != "."]
    if hidden:
        return (f"`{hidden[0]}` starts with a dot: output paths may not name hidden files or "
                "folders (.git, .github, ...); rename it")
    if not parts[-1].lower().endswith(IMAGE_SUFFIXES):
        return (f"an output must end in {', '.join(IMAGE_SUFFIXES[:-1])} or "
                f"{IMAGE_SUFFIXES[-1]}; change the template's file name")
    return None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class OutputRoot:
    folder: Path       # the pipeline's folder: stored paths are relative to it
    output_dir: Path   # absolute

    @cached_property
    def prefix(self) -> str:
        """output_dir as a stored path (``.`` when it is the pipeline's folder itself)."""
        rel = os.path.relpath(self.output_dir, self.folder.absolute())
        return rel.replace(os.sep, "/")

    @cached_property
    def real(self) -> Path:
        """output_dir with every symlink resolved."""
        return Path(os.path.realpath(self.output_dir))

    def file(self, stored: str) -> Path:
        return self.folder / stored

    def contains(self, stored: str) -> bool:
        """Whether ``stored`` lies inside output_dir, lexically (no file system access)."""
        return _lexically_inside(self._abs_folder, self._abs_root, stored)

    def stored_problem(self, stored: str) -> str | None:
        """Why a path a lock records may not be used, or None. Inside output_dir it must be
        what seedflow writes: output_dir, then a path that :func:`path_problem` accepts, in
        normal form. A path outside output_dir (an earlier output_dir's, say) is never read,
        written or deleted, so it is no problem here."""
        if not self.contains(stored):
            return None
        rest = stored if self.prefix == "." else stored.removeprefix(self.prefix + "/")
        problem = path_problem(rest)
        if problem is None and posixpath.normpath(rest) != rest:
            problem = f"not in normal form (seedflow records {posixpath.normpath(stored)})"
        return problem

    def contains_abs(self, path: Path) -> bool:
        """Whether an absolute (or cwd-relative) path lies lexically inside output_dir."""
        return os.path.join(os.path.normpath(os.path.abspath(path)), "").startswith(
            self._abs_root)

    def holds(self, stored: str) -> bool:
        """Whether ``stored`` resolves (symlinks followed) inside output_dir."""
        return Path(os.path.realpath(self.file(stored))).is_relative_to(self.real)

    def writable(self, stored: str) -> Path:
        """The file to write ``stored`` to, its folders created; OutsideOutputDir when its
        folder resolves outside output_dir."""
        target = self.file(stored)
        if not self.contains(stored):
            raise OutsideOutputDir(f"{stored} is outside output_dir; refusing to write")
        target.parent.mkdir(parents=True, exist_ok=True)
        real = Path(os.path.realpath(target.parent)) / target.name
        if not real.is_relative_to(self.real):
            raise OutsideOutputDir(f"{stored} resolves outside output_dir ({real}); refusing "
                                   "to write")
        return target

    def write_problem(self, stored: str) -> str | None:
        """Why ``stored`` could not be written now, or None; creates and changes nothing (apply
        asks before it pays: an image it cannot save would be paid for and lost)."""
        if not self.contains(stored):
            return "outside output_dir"
        target = Path(os.path.normpath(os.path.join(self._abs_folder, stored)))
        if target.is_dir() and not target.is_symlink():
            return "a folder is in the way"
        if target.parent not in self._folders:   # many outputs share a folder: ask once
            self._folders[target.parent] = self._folder_problem(target.parent)
        return self._folders[target.parent]

    def _folder_problem(self, folder: Path) -> str | None:
        while not os.path.lexists(folder):
            folder = folder.parent
        if not folder.is_dir():
            return f"{self.shown_abs(folder)} is a file, not a folder"
        inside = os.path.join(str(folder), "").startswith(self._abs_root)
        if inside and not Path(os.path.realpath(folder)).is_relative_to(self.real):
            return f"{self.shown_abs(folder)} resolves outside output_dir"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"{self.shown_abs(folder)} is not writable"
        return None

    def shown_abs(self, path: Path) -> str:
        """An absolute path inside the project as people see it."""
        return os.path.relpath(path).replace(os.sep, "/")

    def shown(self, stored: str) -> str:
        """``stored`` relative to the current directory, as people see it."""
        return self.shower()(stored)

    def shower(self) -> Callable[[str], str]:
        """:meth:`shown`, with the current directory looked up once (for many paths)."""
        folder, cwd = self.folder, os.getcwd()
        head, shown = _root_prefixes(folder, self.output_dir, cwd)

        def show(stored: str) -> str:
            rest = stored[len(head):]
            if shown is not None and stored.startswith(head) and ".." not in rest:
                return shown + rest  # every output: the root converted once
            return _from_cwd(folder, stored, cwd)

        return show

    def presence_check(self) -> OutputCheck:
        """Cheap check for plans: the file exists inside output_dir with the recorded size.

        This reads no file content, so a lexical containment test is enough (resolving every
        path's symlinks cost seconds at 100,000 files); :meth:`hash_check`, which reads, resolves.
        """
        base, root = self._abs_folder, self._abs_root

        def intact(stored: str, image: LockedImage) -> bool:
            target = os.path.normpath(os.path.join(base, stored))
            if not target.startswith(root):
                return False
            try:
                return os.stat(target).st_size == image.size
            except OSError:
                return False

        return intact

    def exists(self, stored: str) -> bool:
        """Whether something is at ``stored`` (inside output_dir, links not followed)."""
        return self.contains(stored) and os.path.lexists(self.file(stored))

    def cached_check(self, cache: StatCache) -> OutputCheck:
        """The recorded sha256, hashing only files whose ``stat`` the cache has not seen
        (plan and apply: a retouched image of the same size is not "intact")."""
        root, target_of = self._abs_root, self._target_of()

        def intact(stored: str, image: LockedImage) -> bool:
            target = target_of(stored)
            if not target.startswith(root):
                return False
            try:
                st = os.stat(target)
                if st.st_size != image.size:
                    return False
                digest = cache.sha256_of(stored, st)
                if digest is None:   # read it, but never through a link out of output_dir
                    if not self.holds(stored):
                        return False
                    digest = file_sha256(Path(target))
                    cache.remember(stored, stat_key(st), digest)
            except OSError:
                return False
            return digest == image.sha256

        return intact

    def _target_of(self) -> Callable[[str], str]:
        """The absolute, normal path of a stored path. A path written as seedflow writes
        outputs (output_dir's stored prefix, then no ``.``, ``..`` or empty part) is joined
        without normpath, which costs more than the stat at 100,000 files."""
        base, root = self._abs_folder, self._abs_root
        head = "" if self.prefix == "." else self.prefix + "/"

        def target_of(stored: str) -> str:
            probe = "/" + stored[len(head):]
            if stored.startswith(head) and "/." not in probe and "//" not in probe \
                    and not probe.endswith("/"):
                return root + probe[1:]
            return os.path.normpath(os.path.join(base, stored))

        return target_of

    def hash_check(self) -> OutputCheck:
        """Thorough check (verify, apply, ``plan --check-hashes``): the recorded sha256."""

        def intact(stored: str, image: LockedImage) -> bool:
            try:
                return self.holds(stored) and file_sha256(self.file(stored)) == image.sha256
            except OSError:
                return False

        return intact

    @cached_property
    def _folders(self) -> dict[Path, str | None]:
        return {}

    @cached_property
    def _abs_folder(self) -> str:
        return os.path.abspath(self.folder)

    @cached_property
    def _abs_root(self) -> str:
        return os.path.join(os.path.normpath(os.path.abspath(self.output_dir)), "")


def _lexically_inside(base: str, root: str, stored: str) -> bool:
    return os.path.normpath(os.path.join(base, stored)).startswith(root)


@lru_cache(maxsize=16)
def _root_prefixes(folder: Path, output_dir: Path, cwd: str) -> tuple[str, str | None]:
    """output_dir as stored (relative to the pipeline folder) and as shown (relative to cwd),
    each with a trailing slash (or empty for the folder itself). ``shown + rest`` is exactly
    what relpath gives unless output_dir is an ancestor of cwd (``..`` only), where a path could
    lead back below cwd: then None, and each path takes the slow way."""
    stored = os.path.relpath(output_dir, os.path.join(cwd, folder)).replace(os.sep, "/")
    shown = os.path.relpath(output_dir, cwd).replace(os.sep, "/")
    head = "" if stored == "." else stored + "/"
    if shown != "." and all(part == ".." for part in shown.split("/")):
        return (head, None)
    return (head, "" if shown == "." else shown + "/")


def _from_cwd(folder: Path, stored: str, cwd: str) -> str:
    head, _, name = stored.rpartition("/")
    if head and name not in ("", ".", ".."):   # a file name: its folder converted once
        shown = _folder_from_cwd(folder, head, cwd)
        return name if shown == "." else f"{shown}/{name}"
    return _folder_from_cwd(folder, stored, cwd)


@lru_cache(maxsize=1024)
def _folder_from_cwd(folder: Path, stored: str, cwd: str) -> str:
    target = posixpath.normpath(os.path.join(cwd, folder, stored).replace(os.sep, "/"))
    if target.startswith(cwd + "/"):
        return target[len(cwd) + 1:]
    return os.path.relpath(target, cwd).replace(os.sep, "/")
