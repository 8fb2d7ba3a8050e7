"""Command-line entry point: parses arguments and dispatches, nothing else.

Each subcommand lives in ``seedflow/commands/<name>.py`` as a plain typed function that returns
an exit code. ``main(argv)`` is what tests call; ``entry()`` is the console script.

Exit codes: 0 ok, 1 an expected failure (one clear message), 2 usage error, 3 an unexpected
error (traceback written to a log file, whose path is printed), 130 interrupted (^C).
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from seedflow import __version__
from seedflow.errors import Interrupted, SeedflowError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130

PIPELINE = click.Path(dir_okay=False, path_type=Path)
FORMATS = click.Choice(["text", "markdown", "json"])


def lock_option(what: str) -> Callable[[F], F]:
    """``--lock PATH``, declared once for every command that reads or writes a lock."""
    return click.option("--lock", "lock_path", type=click.Path(dir_okay=False, path_type=Path),
                        help=f"{what[:-1]} (default: beside the pipeline, *.lock; an explicit "
                             "path must exist).")


store_option = click.option(
    "--store", "store_url", metavar="URL", default=None,
    help="Where images live for good: a folder, s3://bucket/prefix, gs://…, az://… "
         "(default: SEEDFLOW_STORE, else the pipeline's `store:`).")

target_option = click.option(
    "--target", "targets", multiple=True, metavar="GLOB",
    help="Only combinations whose address matches (repeatable), e.g. 'hero[*' or just 'hero' "
         "(an asset's name selects all of it).")

max_combinations_option = click.option(
    "--max-combinations", type=click.IntRange(min=1), default=None,
    help="Refuse assets that expand past this many combinations (default 10000, or the "
         "pipeline's `limits.max_combinations`).")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="seedflow")
def cli() -> None:
    """seedflow: Terraform for AI image assets.

    Keep image specs in git as YAML pipelines, see exactly what a change will generate with
    `plan`, and generate only what the lockfile does not already hold with `apply`.
    """


@cli.command()
@click.argument("pipelines", nargs=-1, required=True, type=PIPELINE)
@max_combinations_option
def validate(pipelines: tuple[Path, ...], max_combinations: int | None) -> None:
    """Check pipeline files: schema, templates, provider parameters, output paths.

    Every error names file:line:column. Exit 0 when all are valid, 1 otherwise.
    """
    from seedflow.commands.validate import validate as run

    _exit(run(list(pipelines), max_combinations=max_combinations))


@cli.command()
@click.argument("pipeline", type=PIPELINE)
@lock_option("Lockfile to diff against.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True,
              help="text for people, markdown for a pull-request comment, json for tools.")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 0 when there is nothing to do, 2 when there is work, 1 on error.")
@max_combinations_option
@click.option("--check-hashes", is_flag=True,
              help="Hash every locked output (slower) instead of checking presence and size.")
@store_option
@target_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE", help="Also save the plan to FILE; `seedflow apply --plan FILE` "
              "then carries out exactly this plan, or refuses if anything changed.")
def plan(pipeline: Path, lock_path: Path | None, fmt: str, detailed_exitcode: bool,
         max_combinations: int | None, check_hashes: bool, store_url: str | None,
         targets: tuple[str, ...], out: Path | None) -> None:
    """Show what `apply` would do, without doing it (read-only)."""
    from seedflow.commands.plan import plan as run

    _exit(run(pipeline, lock_path=lock_path, fmt=fmt, detailed_exitcode=detailed_exitcode,
              max_combinations=max_combinations, check_hashes=check_hashes,
              store_url=store_url, targets=targets, out=out))


@cli.command()
@click.argument("pipeline", type=PIPELINE, required=False)
@lock_option("Lockfile to use.")
@click.option("--yes", "-y", is_flag=True, help="Start paid work without asking.")
@click.option("--locked", is_flag=True,
              help="Never pay: fail if any combination needs a create; still resume, restore "
                   "and relink (free).")
@click.option("--concurrency", type=click.IntRange(min=1), default=None,
              help="Tasks in flight per provider (default: the provider's limit, or "
                   "SEEDFLOW_CONCURRENCY).")
@target_option
@click.option("--retry-uncertain", is_flag=True,
              help="Re-submit creates whose outcome is unknown (they may be paid twice).")
@click.option("--recreate-expired", is_flag=True,
              help="When a restore's recorded URL has expired, pay for a new task instead.")
@max_combinations_option
@click.option("--max-images", type=click.IntRange(min=0), default=None,
              help="Budget: refuse if more images than this would be generated "
                   "(overrides `budget.max_images`).")
@click.option("--max-cost", type=click.FloatRange(min=0), default=None,
              help="Budget: refuse if the estimated cost is higher (overrides `budget.max_cost`).")
@click.option("--shard", metavar="K/N", default=None,
              help="Run only share K of N of the combinations (by fingerprint) and record them "
                   "in a lock fragment (*.shard-K-of-N.lock); combine with `seedflow lock merge`.")
@store_option
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, metavar="FILE",
              help="Carry out exactly the plan saved by `seedflow plan P --out FILE` (no "
                   "question asked: it was reviewed); refused if anything changed since.")
@click.option("--force", is_flag=True,
              help="Overwrite files the lock does not record at output paths, and restore "
                   "generated images that were changed on disk (default: leave both alone).")
def apply(pipeline: Path, lock_path: Path | None, yes: bool, locked: bool,
          concurrency: int | None, targets: tuple[str, ...], retry_uncertain: bool,
          recreate_expired: bool, max_combinations: int | None, max_images: int | None,
          max_cost: float | None, shard: str | None, store_url: str | None,
          plan_file: Path | None, force: bool) -> None:
    """Generate exactly what the lockfile lacks (asks before paid work on a terminal).

    With a store, every image it generates or moves is uploaded there, and an image the store
    holds counts as present. Exit 0 when every selected combination is done (and stored), 1
    when any failed, is uncertain or could not be uploaded.
    """
    from seedflow.commands.apply import apply as run
    from seedflow.commands.apply import from_saved_plan

    if plan_file is not None:
        _exit(from_saved_plan(plan_file, pipeline, lock_path=lock_path, store_url=store_url,
                              concurrency=concurrency, force=force))
    if pipeline is None:
        raise click.UsageError("give a PIPELINE (or --plan FILE)")
    _exit(run(pipeline, lock_path=lock_path, yes=yes, locked=locked, concurrency=concurrency,
              targets=targets, retry_uncertain=retry_uncertain,
              recreate_expired=recreate_expired, max_combinations=max_combinations,
              max_images=max_images, max_cost=max_cost, shard=shard, store_url=store_url,
              force=force))


@cli.command()
@click.argument("pipeline", type=PIPELINE)
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True, metavar="DIR",
              help="Folder to write index.html, thumbs/ and images/ into (created if needed; "
                   "nothing is written outside it).")
@click.option("--rows", metavar="AXIS", default=None,
              help="Matrix axis for the grid rows (default: the first axis with more than "
                   "one value).")
@click.option("--cols", metavar="AXIS", default=None,
              help="Matrix axis for the grid columns (default: the next such axis). Every "
                   "other axis with several values gets a grid of its own.")
@click.option("--plan", "plan_mode", is_flag=True,
              help="Mark what `apply` would generate (+ new) and list orphaned lock entries.")
@click.option("--link", is_flag=True,
              help="Link to the images in output_dir instead of copying them into DIR/images "
                   "(smaller, but DIR is then not self-contained).")
@lock_option("Lockfile to read.")
def gallery(pipeline: Path, out: Path, rows: str | None, cols: str | None, plan_mode: bool,
            link: bool, lock_path: Path | None) -> None:
    """Write a static HTML contact sheet of the pipeline's images to DIR/index.html.

    One grid per asset (rows and columns are matrix axes), thumbnails linking to the full
    images, captions with address, prompt, provider, task id and date, and a placeholder for
    every image not generated yet. Self-contained: open it from disk or upload DIR as a CI
    artifact. Prints the path of index.html.
    """
    from seedflow.commands.gallery import gallery as run

    _exit(run(pipeline, out=out, rows=rows, cols=cols, plan_mode=plan_mode,
              lock_path=lock_path, link=link))


@cli.command()
@click.option("--check", is_flag=True, help="Fail if a derived schema is stale; write nothing.")
@click.option("--dir", "schema_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="The schemas/ folder (default: the project's).")
def schemas(check: bool, schema_dir: Path | None) -> None:
    """Rebuild the JSON Schemas in schemas/: requests (from the OpenAPI specs), pipeline, lock."""
    from seedflow.commands.schemas import schemas as run

    _exit(run(check=check, schema_dir=schema_dir))


@cli.group()
def sim() -> None:
    """The embedded provider simulator (speaks the Apikley and Modellix protocols)."""


@sim.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True)
@click.option("--latency", type=float, default=2.0, show_default=True,
              help="Median generation time per task, seconds.")
@click.option("--rate", default="0", show_default=True,
              help="Create rate limit as COUNT/SECONDSs (e.g. 20/10s) or 0 for none.")
@click.option("--fail-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Fraction of generations that fail.")
def sim_serve(host: str, port: int, latency: float, rate: str, fail_rate: float) -> None:
    """Run the simulator as a standalone HTTP server until ^C."""
    from seedflow.commands.sim import serve as run

    _exit(run(host=host, port=port, latency=latency, rate=rate, fail_rate=fail_rate))


@cli.command()
@click.argument("pipeline", type=PIPELINE)
@lock_option("Lockfile to check.")
@click.option("--store", "store_url", is_flag=False, flag_value="", default=None,
              metavar="[URL]", help="Check the store instead of this disk: it must hold every "
              "locked image (the configured store, or URL).")
def verify(pipeline: Path, lock_path: Path | None, store_url: str | None) -> None:
    """Check that every locked output is on disk with its recorded sha256 (read-only).

    Exit 0 when all are intact, 1 listing each missing or changed file (or, with --store, each
    image the store lacks).
    """
    from seedflow.commands.verify import verify as run

    _exit(run(pipeline, lock_path=lock_path, store_url=store_url))


@cli.command()
@click.argument("pipeline", type=PIPELINE)
@lock_option("Lockfile whose images to pull.")
@store_option
@click.option("--force", is_flag=True,
              help="Replace a file that differs from the locked image (default: keep it).")
def pull(pipeline: Path, lock_path: Path | None, store_url: str | None, force: bool) -> None:
    """Bring every locked image from the store into output_dir (never pays).

    Concurrent, sha256-verified, atomic; images already here cost a hash, not a download.
    Exit 1 listing what could not be pulled.
    """
    from seedflow.commands.store import pull as run

    _exit(run(pipeline, lock_path=lock_path, store_url=store_url, force=force))


@cli.command()
@click.argument("pipeline", type=PIPELINE)
@lock_option("Lockfile whose images to push.")
@store_option
def push(pipeline: Path, lock_path: Path | None, store_url: str | None) -> None:
    """Upload every locked image on this disk that the store lacks (never pays).

    Exit 1 listing what could not be pushed, and any locked image neither here nor stored.
    """
    from seedflow.commands.store import push as run

    _exit(run(pipeline, lock_path=lock_path, store_url=store_url))


@cli.command()
@click.argument("pipeline", type=PIPELINE)
@lock_option("Lockfile to prune.")
@click.option("--files", is_flag=True,
              help="Also delete the orphans' images (never a file something else still uses).")
@click.option("--yes", "-y", is_flag=True,
              help="Do not ask; also prune unfinished orphans (possibly paid tasks in flight).")
def prune(pipeline: Path, lock_path: Path | None, files: bool, yes: bool) -> None:
    """Remove lock entries that are no longer in the pipeline (orphans), after showing them."""
    from seedflow.commands.prune import prune as run

    _exit(run(pipeline, lock_path=lock_path, files=files, yes=yes))


@cli.group()
def lock() -> None:
    """Combine lockfiles: shard fragments, branches, git merges (see docs/ci.md)."""


@lock.command("merge")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("inputs", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--remove-fragments", is_flag=True,
              help="After a successful merge, delete the inputs that are OUT's shard fragments "
                   "(OUT.shard-K-of-N.lock): their records are in OUT now.")
def lock_merge(out: Path, inputs: tuple[Path, ...], remove_fragments: bool) -> None:
    """Fold lockfiles and shard fragments into OUT, keeping OUT's own entries.

    Writes OUT atomically in canonical form; refuses an input with conflict markers or a newer
    format. The rules are in docs/ci.md ("Merging lockfiles").
    """
    from seedflow.commands.lock import merge as run

    _exit(run(out, list(inputs), remove_fragments=remove_fragments))


@lock.command("check")
@click.argument("locks", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def lock_check(locks: tuple[Path, ...]) -> None:
    """Check that lockfiles load: no conflict markers, valid entries, a known format.

    Exit 0 when all are valid, 1 otherwise (the pre-commit hook `seedflow-lock` runs this).
    """
    from seedflow.commands.lock import check as run

    _exit(run(list(locks)))


@lock.command("merge-driver")
@click.argument("ancestor", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("ours", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("theirs", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("name", required=False)
def lock_merge_driver(ancestor: Path, ours: Path, theirs: Path, name: str | None) -> None:
    """git merge driver for lockfiles: %O %A %B [%P]; writes the merge to %A.

    Install it with .gitattributes and git config as docs/ci.md shows.
    """
    from seedflow.commands.lock import merge_driver as run

    _exit(run(ancestor, ours, theirs, name))


@cli.command()
@click.argument("path", required=False, type=PIPELINE)
def init(path: Path | None) -> None:
    """Write a starter pipeline (default pipelines/images.yaml) that runs on the simulator.

    Never overwrites a file.
    """
    from seedflow.commands.init import init as run

    _exit(run(path))


def _exit(code: int) -> None:
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run seedflow with ``argv`` and return the exit code (never raises)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="seedflow",
                 standalone_mode=False)
    except SystemExit as exc:
        return _code(exc.code)
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    except Interrupted as exc:
        click.echo(f"Interrupted. {exc.message}", err=True)
        return exc.exit_code
    except SeedflowError as exc:
        click.echo(f"error: {exc.message}", err=True)
        return EXIT_FAILED
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except Exception:  # a bug: keep the traceback out of the user's face, but keep it
        log = _write_crash_log()
        click.echo(f"error: seedflow hit an unexpected error (a bug). The traceback is in {log}."
                   " Please include it when you report the problem.", err=True)
        return EXIT_BUG
    return EXIT_OK


def _code(code: object) -> int:
    if code is None:
        return EXIT_OK
    return code if isinstance(code, int) else EXIT_FAILED


def _write_crash_log() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seedflow"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        base = Path(tempfile.gettempdir())
    log = base / "crash.log"
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"seedflow {__version__} {' '.join(sys.argv)}\n{traceback.format_exc()}\n")
    return log


def entry() -> None:
    """Console-script entry point."""
    code = main()
    if "obstore" in sys.modules:
        # obstore's Rust runtime keeps worker threads that can abort the whole process
        # (SIGABRT, exit 134) if one wakes while the interpreter finalizes (seen in about 1 run
        # in 10 after a store was used). Everything seedflow writes is closed and fsynced by
        # now, so end the process without finalizing.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
