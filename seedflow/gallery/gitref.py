"""Reading files as they were at a git ref (``gallery --compare REF``), through ``git`` itself.

git runs as a subprocess (no shell, a time limit, nothing written, no pager, literal paths);
the ref is resolved once to a commit, so a ref that looks like an option cannot become one.
What a ref holds came from a pull request: sizes are checked before a blob is read, and a
symlink or a folder at a path is treated as absent.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from seedflow.errors import SeedflowError

GIT_SECONDS = 60
"""The longest one git command may take."""

MAX_LOCK_BYTES = 256 * 2**20
"""The largest lockfile read from a ref."""

_ENV = {"GIT_LITERAL_PATHSPECS": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0",
        "LC_ALL": "C"}
_BLOB_MODES = ("100644", "100755")


@dataclass(frozen=True, slots=True)
class GitRef:
    name: str       # as the user wrote it
    commit: str     # the commit it names
    top: Path       # the repository's work tree


def resolve_ref(folder: Path, name: str) -> GitRef:
    """The commit ``name`` names in the repository that holds ``folder``."""
    if not name or name.startswith("-") or "\0" in name:
        raise SeedflowError(f"--compare `{name}`: not a git ref; give a branch, tag or commit "
                            "(e.g. --compare main)")
    found = _call(folder, ["rev-parse", "--show-toplevel"], what="find the git repository")
    if found.returncode != 0:
        said = _first_line(found.stderr)
        if "not a git repository" in said:
            raise SeedflowError(f"--compare needs a git repository, and {folder} is not in "
                                "one; run it in a clone of the project")
        raise SeedflowError(f"--compare: git cannot read the repository at {folder}: {said}")
    top = found.stdout.decode("utf-8", "replace")
    commit = _git(folder, ["rev-parse", "--verify", "--quiet", "--end-of-options",
                           f"{name}^{{commit}}"], what=f"resolve `{name}`")
    if commit is None:
        raise SeedflowError(f"--compare `{name}`: no such branch, tag or commit in {top.strip()}"
                            "; check the name (`git branch -a`, `git log --oneline`), or "
                            "`git fetch` it first")
    return GitRef(name, commit.strip(), Path(top.strip()))


def repo_path(ref: GitRef, path: Path) -> str | None:
    """``path`` relative to the repository's top (with ``/``), None when outside it."""
    try:
        relative = path.resolve().relative_to(ref.top.resolve())
    except ValueError:
        return None
    return relative.as_posix()


def read_blob(ref: GitRef, path: str, *, max_bytes: int) -> bytes | None:
    """The file at ``path`` (relative to the top) in the ref's commit; None when the commit
    has no plain file there. SeedflowError when it is larger than ``max_bytes``."""
    listed = _git(ref.top, ["ls-tree", "-z", "-l", "--full-tree", ref.commit, "--", path],
                  what=f"list {path} at {ref.name}")
    if not listed:
        return None
    meta, _, name = listed.split("\0", 1)[0].partition("\t")
    mode, kind, obj, size = [*meta.split(), "", "", "", ""][:4]
    if name != path or kind != "blob" or mode not in _BLOB_MODES or not size.isdigit():
        return None
    if int(size) > max_bytes:
        raise SeedflowError(f"{path} at {ref.name} is {int(size):,} bytes; the limit is "
                            f"{max_bytes:,}")
    data = _run(ref.top, ["cat-file", "blob", obj], what=f"read {path} at {ref.name}")
    return data if data is not None and len(data) <= max_bytes else None


def _git(folder: Path, args: list[str], *, what: str) -> str | None:
    out = _run(folder, args, what=what)
    return None if out is None else out.decode("utf-8", "replace")


def _run(folder: Path, args: list[str], *, what: str) -> bytes | None:
    """git's output, or None when git says no (exit code ≠ 0)."""
    done = _call(folder, args, what=what)
    return done.stdout if done.returncode == 0 else None


def _first_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[0].removeprefix("fatal: ")[:300] if lines else "(git said nothing)"


def _call(folder: Path, args: list[str], *, what: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True,
                              timeout=GIT_SECONDS, check=False, stdin=subprocess.DEVNULL,
                              env={**os.environ, **_ENV})
    except FileNotFoundError:
        raise SeedflowError("--compare needs git, and it is not installed (or not on PATH)"
                            ) from None
    except subprocess.TimeoutExpired:
        raise SeedflowError(f"git took longer than {GIT_SECONDS} s to {what}") from None
    except OSError as exc:
        raise SeedflowError(f"cannot run git to {what}: {exc.strerror}") from None
