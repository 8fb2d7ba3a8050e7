"""Command-line entry point: parses arguments and dispatches, nothing else.

Each subcommand lives in ``seedflow/commands/<name>.py`` as a plain typed function that returns
an exit code. ``main(argv)`` is what tests call; ``entry()`` is the console script.

Exit codes (listed in ``seedflow --help``, EPILOG): 0 ok, 1 an expected failure (one clear
message), 2 usage error, 3 an unexpected error (traceback written to a log file, whose path is
printed), 130 interrupted (^C), 143 terminated (SIGTERM).
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
from seedflow.commands import finish
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


# `seedflow --help` lists commands in the order they are used, not alphabetically; a command
# missing here is listed after these, in the order it is declared.
WORKFLOW = ("init", "validate", "plan", "apply", "verify", "gallery", "pull", "push", "prune",
            "lock", "schemas", "sim")

EPILOG = """\b
Exit codes:
  0    success (plan --detailed-exitcode: nothing to do)
  1    an expected failure, said in one message (bad input, failed tasks)
  2    usage error (plan --detailed-exitcode: there is work to do)
  3    a bug: the traceback goes to a log file, whose path is printed
  130  interrupted (^C); apply first records what it paid for
  143  terminated (SIGTERM); apply first records what it paid for

Colour only on a terminal, never with --no-color or NO_COLOR set; progress bars still show.
"""


class Commands(click.Group):
    """A group whose help lists commands in WORKFLOW order, each with its whole summary."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        rank = {name: n for n, name in enumerate(WORKFLOW)}
        return sorted(self.commands, key=lambda name: rank.get(name, len(WORKFLOW)))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, but a summary is wrapped instead of cut off with "..."."""
        rows = [(name, command.get_short_help_str(limit=1000))
                for name in self.list_commands(ctx)
                if (command := self.get_command(ctx, name)) is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


Commands.group_class = Commands   # `lock` and `sim` list and wrap the same way


def no_colour(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--no-color`` (or NO_COLOR set): every command of this run writes no colour codes."""
    if value or os.environ.get("NO_COLOR"):
        ctx.color = False


@click.group(cls=Commands, epilog=EPILOG,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="seedflow")
@click.option("--no-color", "--no-colour", is_flag=True, expose_value=False, is_eager=True,
              callback=no_colour, help="No colour in any output (as NO_COLOR=1); progress bars "
                                       "still show.")
def cli() -> None:
    """seedflow: Terraform for AI image assets.

    Keep image specs in git as YAML pipelines, see exactly what a change will generate with
    `plan`, and generate only what the lockfile does not already hold with `apply`.
    """


@cli.command(short_help="Check pipeline files: schema, templates, providers, paths.")
@click.argument("pipelines", nargs=-1, required=True, type=PIPELINE)
@max_combinations_option
def validate(pipelines: tuple[Path, ...], max_combinations: int | None) -> None:
    """Check pipeline files: schema, templates, provider parameters, output paths.

    Every error names file:line:column. Exit 0 when all are valid, 1 otherwise.
    """
    from seedflow.commands.validate import validate as run

    _exit(run(list(pipelines), max_combinations=max_combinations))


@cli.command(short_help="Show what `apply` would do, without doing it (read-only).")
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


@cli.command(short_help="Generate what the lockfile lacks; asks before paid work.")
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


@cli.command(short_help="Write an HTML contact sheet of the pipeline's images.")
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
@click.option("--compare", metavar="REF", default=None,
              help="Show what changed since the git ref REF instead: the lock at REF against "
                   "the working lock, changed images before / after, then added and removed.")
@lock_option("Lockfile to read.")
def gallery(pipeline: Path, out: Path, rows: str | None, cols: str | None, plan_mode: bool,
            link: bool, compare: str | None, lock_path: Path | None) -> None:
    """Write a static HTML contact sheet of the pipeline's images to DIR/index.html.

    One grid per asset (rows and columns are matrix axes; an axis that follows from another
    is shown as a label, not a grid), even thumbnails captioned with the values that vary,
    details (prompt, provider, task, file) on demand, a full-size view, and a placeholder for
    every image not generated yet. With --compare REF: what changed since REF, before / after.
    Self-contained: open it from disk or upload DIR as a CI artifact. Prints the path of
    index.html.
    """
    from seedflow.commands.gallery import gallery as run

    _exit(run(pipeline, out=out, rows=rows, cols=cols, plan_mode=plan_mode,
              lock_path=lock_path, link=link, compare=compare))


@cli.command(short_help="Rebuild the JSON Schemas, or export them into a project.")
@click.option("--check", is_flag=True, help="Fail if a schema is stale or missing; write nothing.")
@click.option("--dir", "schema_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="The schemas/ folder (default: seedflow's own).")
@click.option("--export", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="Write the pipeline and lockfile schemas into DIR (created if needed), e.g. "
                   "your project's schemas/, for editor completion.")
def schemas(check: bool, schema_dir: Path | None, export: Path | None) -> None:
    """Rebuild the JSON Schemas in schemas/: requests (from the OpenAPI specs), pipeline, lock.

    With --export DIR: write the schemas of the files you edit and commit
    (pipeline.schema.json, lock.schema.json) into DIR instead; a pipeline names its schema on
    its first line (`# yaml-language-server: $schema=../schemas/pipeline.schema.json`).
    """
    from seedflow.commands.schemas import schemas as run

    if export is not None and schema_dir is not None:
        raise click.UsageError("--export and --dir cannot be used together")
    _exit(run(check=check, schema_dir=schema_dir, export=export))


@cli.group(short_help="The embedded provider simulator (Apikley and Modellix).")
def sim() -> None:
    """The embedded provider simulator (speaks the Apikley and Modellix protocols)."""


@sim.command("serve", short_help="Run the simulator as a standalone HTTP server until ^C.")
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


@cli.command(short_help="Check that every locked image is intact on disk (read-only).")
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


@cli.command(short_help="Bring locked images from the store onto this disk (free).")
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


@cli.command(short_help="Upload the locked images that the store lacks (free).")
@click.argument("pipeline", type=PIPELINE)
@lock_option("Lockfile whose images to push.")
@store_option
def push(pipeline: Path, lock_path: Path | None, store_url: str | None) -> None:
    """Upload every locked image on this disk that the store lacks (never pays).

    Exit 1 listing what could not be pushed, and any locked image neither here nor stored.
    """
    from seedflow.commands.store import push as run

    _exit(run(pipeline, lock_path=lock_path, store_url=store_url))


@cli.command(short_help="Remove lock entries no longer in the pipeline (orphans).")
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


@cli.group(short_help="Merge and check lockfiles: shards, branches, git merges.")
def lock() -> None:
    """Combine lockfiles: shard fragments, branches, git merges (see docs/ci.md)."""


@lock.command("merge", short_help="Fold lockfiles and shard fragments into OUT.")
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


@lock.command("check", short_help="Check that lockfiles load (for pre-commit, CI).")
@click.argument("locks", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def lock_check(locks: tuple[Path, ...]) -> None:
    """Check that lockfiles load: no conflict markers, valid entries, a known format.

    Exit 0 when all are valid, 1 otherwise (the pre-commit hook `seedflow-lock` runs this).
    """
    from seedflow.commands.lock import check as run

    _exit(run(list(locks)))


@lock.command("merge-driver", short_help="The git merge driver for lockfiles.")
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


@cli.command(short_help="Start a project: a pipeline that runs on the simulator.")
@click.argument("path", required=False, type=click.Path(path_type=Path), metavar="[DIR|FILE.yaml]")
def init(path: Path | None) -> None:
    """Start a project in DIR (default: here): pipelines/images.yaml and its schema.

    The starter pipeline runs on the embedded simulator (no key, no cost), and its first line
    names schemas/pipeline.schema.json, written beside it, for editor completion. With
    FILE.yaml, writes that pipeline instead, pointing at the project's schema. Creates missing
    folders; never overwrites a file, never writes through a symlink.
    """
    from seedflow.commands.init import init as run

    _exit(run(path))


@cli.group(hidden=True)
def ci() -> None:
    """The GitHub Action's steps (action.yml; docs/ci.md, "The GitHub Action")."""


@ci.command("plan")
@click.argument("pipelines", nargs=-1, required=True, type=PIPELINE)
@store_option
@target_option
@click.option("--markdown", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Write the report (one section per pipeline) here.")
@click.option("--github-output", type=click.Path(dir_okay=False, path_type=Path),
              help="Append has-work, creates, images, failed ($GITHUB_OUTPUT).")
@click.option("--step-summary", type=click.Path(dir_okay=False, path_type=Path),
              help="Append the report ($GITHUB_STEP_SUMMARY).")
def ci_plan(pipelines: tuple[Path, ...], store_url: str | None, targets: tuple[str, ...],
            markdown: Path, github_output: Path | None, step_summary: Path | None) -> None:
    """Plan every pipeline into one markdown report and the action's outputs."""
    from seedflow.commands.ci import plan as run

    _exit(run(list(pipelines), markdown=markdown, store_url=store_url, targets=targets,
              github_output=github_output, step_summary=step_summary))


@ci.command("comment")
@click.argument("body", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--pr", "number", type=click.IntRange(min=1), required=True,
              help="The pull request's number.")
@click.option("--repo", envvar="GITHUB_REPOSITORY", required=True,
              help="OWNER/NAME (default: GITHUB_REPOSITORY).")
@click.option("--api-url", envvar="GITHUB_API_URL", default="https://api.github.com",
              show_default=True, help="GitHub's REST API (default: GITHUB_API_URL).")
@click.option("--key", default="default", show_default=True,
              help="Which sticky comment: one per key.")
@click.option("--github-output", type=click.Path(dir_okay=False, path_type=Path),
              help="Append comment-url ($GITHUB_OUTPUT).")
def ci_comment(body: Path, number: int, repo: str, api_url: str, key: str,
               github_output: Path | None) -> None:
    """Post BODY as the pull request's plan comment, or edit it (token: GITHUB_TOKEN)."""
    from seedflow.commands.ci import comment as run

    _exit(run(body, number=number, repo=repo, api_url=api_url, key=key,
              github_output=github_output))


def _exit(code: int) -> None:
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run seedflow with ``argv`` and return the exit code (never raises)."""
    finish.release()
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
    if "obstore" in sys.modules or finish.kept():
        # obstore's Rust runtime keeps worker threads that can abort the whole process
        # (SIGABRT, exit 134) if one wakes while the interpreter finalizes (seen in about 1 run
        # in 10 after a store was used); a plan leaves its objects for the OS to reclaim (see
        # seedflow.commands.finish). Everything seedflow writes is closed and fsynced by now,
        # so end the process without finalizing.
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:   # the reader left (a closed pipe): what it did not get is lost
            code = code or EXIT_FAILED
        os._exit(code)
    sys.exit(code)
