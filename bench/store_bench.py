"""The store: push and pull of many small images against a real S3 server (moto, over HTTP on
loopback), batched and concurrent, against a one-object-at-a-time loop in the same run.

    python -m bench.store_bench                            # about 2 minutes
    python -m bench.store_bench --objects 200 --repeats 1  # a smoke run

Two settings: the server as fast as it goes on loopback (1,000 images), then with a delay added
to every request (``--latency``, 20 ms by default, about a cloud round trip; a fifth of the
images, since the sequential loop pays the delay three times per object).

Each repeat uses a fresh bucket. "push" uploads every image to an empty bucket (one existence
check for the batch, then a create-only PUT and a size check per object); "pull" downloads every
image into an empty folder (GET, sha256 check, fsync, rename). The sequential loop calls
``put_file`` / ``get_file`` for one object after another, the way a hand-written script would.
Figures are medians over the repeats; the server runs in its own process (tests/s3server.py).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.util
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from seedflow.store import ObjectStore, StoreOptions, Transfer, pull, push

ROOT = Path(__file__).resolve().parent.parent


def _s3server() -> ModuleType:
    """tests/s3server.py, the test suite's S3 server (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("s3server", ROOT / "tests" / "s3server.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Figure:
    label: str
    seconds: float
    objects: int
    megabytes: float

    @property
    def rate(self) -> float:
        return self.objects / self.seconds

    @property
    def mb_per_s(self) -> float:
        return self.megabytes / self.seconds


def make_images(folder: Path, count: int, seed: int = 7) -> list[Transfer]:
    """``count`` files of 20-60 KB of random bytes (as incompressible as PNGs)."""
    rng = random.Random(seed)
    items = []
    for i in range(count):
        data = rng.randbytes(rng.randint(20_000, 60_000))
        path = folder / f"{i:05d}.png"
        path.write_bytes(data)
        items.append(Transfer(hashlib.sha256(data).hexdigest(), path, len(data)))
    return items


def _timed(work: Coroutine[Any, Any, None]) -> float:
    started = time.perf_counter()
    asyncio.run(work)
    return time.perf_counter() - started


async def _push_sequential(store: ObjectStore, items: list[Transfer]) -> None:
    for t in items:
        await store.put_file(t.path, t.sha256)


async def _pull_sequential(store: ObjectStore, items: list[Transfer]) -> None:
    for t in items:
        await store.get_file(t.sha256, t.path, size=t.size)


async def _push_batched(store: ObjectStore, items: list[Transfer]) -> None:
    report = await push(store, items)
    assert report.ok and report.transferred == len(items), report


async def _pull_batched(store: ObjectStore, items: list[Transfer]) -> None:
    report = await pull(store, items)
    assert report.ok and report.transferred == len(items), report


def measure(server: Any, images: list[Transfer], scratch: Path, repeats: int,
            concurrency: int, latency: float) -> tuple[list[Figure], dict[str, int]]:
    """Median seconds of each way (batched/sequential × push/pull), and the requests of a
    batched push by method."""
    runs: dict[str, list[float]] = {}
    requests: dict[str, int] = {}
    options = StoreOptions(concurrency=concurrency)
    server.set_latency(latency)
    tag = f"{len(images)}-{int(latency * 1000)}ms"
    for repeat in range(repeats):
        for mode in ("batched", "sequential"):
            bucket = f"bench-{tag}-{repeat}-{mode}"
            server.create_bucket(bucket)
            store = ObjectStore.open(f"s3://{bucket}/images", options=options)
            out = scratch / f"pull-{bucket}"
            out.mkdir()
            pulls = [Transfer(t.sha256, out / t.path.name, t.size) for t in images]
            server.reset_stats()
            batched = mode == "batched"
            seconds = _timed(_push_batched(store, images) if batched
                             else _push_sequential(store, images))
            runs.setdefault(f"push {mode}", []).append(seconds)
            if batched:
                requests = dict(server.stats()["requests"])
            seconds = _timed(_pull_batched(store, pulls) if batched
                             else _pull_sequential(store, pulls))
            runs.setdefault(f"pull {mode}", []).append(seconds)
            assert all(p.path.stat().st_size == p.size for p in pulls)
            print(f"  repeat {repeat + 1} {mode}: push {runs[f'push {mode}'][-1]:.2f} s, "
                  f"pull {seconds:.2f} s", flush=True)
    server.set_latency(0)
    megabytes = sum(t.size or 0 for t in images) / 1e6
    figures = [Figure(label, statistics.median(times), len(images), megabytes)
               for label, times in runs.items()]
    return figures, requests


def table(title: str, figures: list[Figure], requests: dict[str, int],
          concurrency: int) -> list[str]:
    by = {f.label: f for f in figures}
    rows = [f"**{title}**", "", "| operation | objects | median time | objects/s | MB/s |",
            "|---|---:|---:|---:|---:|"]
    for label in ("push batched", "push sequential", "pull batched", "pull sequential"):
        f = by[label]
        rows.append(f"| {label} | {f.objects:,} | {f.seconds:.2f} s | {f.rate:,.0f} | "
                    f"{f.mb_per_s:.1f} |")
    push_ratio = by["push sequential"].seconds / by["push batched"].seconds
    pull_ratio = by["pull sequential"].seconds / by["pull batched"].seconds
    counts = ", ".join(f"{v:,} {'GET (listings)' if k == 'GET' else k}"
                       for k, v in sorted(requests.items()))
    return [
        *rows,
        "",
        f"Batched (concurrency {concurrency}) against one object at a time, same run: "
        f"push **{push_ratio:.1f}×**, pull **{pull_ratio:.1f}×**. Requests of the batched push "
        f"of {by['push batched'].objects:,} images to an empty bucket: {counts}.",
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.store_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=StoreOptions().concurrency)
    parser.add_argument("--latency", type=float, default=0.02,
                        help="seconds added to every request in the second setting (0: skip)")
    args = parser.parse_args(argv)
    defaults = {"objects": 1000, "repeats": 3, "concurrency": StoreOptions().concurrency,
                "latency": 0.02}
    command = "python -m bench.store_bench" + "".join(
        f" --{name} {getattr(args, name):g}" for name, default in defaults.items()
        if getattr(args, name) != default)
    server_module = _s3server()
    with tempfile.TemporaryDirectory(prefix="seedflow-store-bench-") as tmp, \
            server_module.S3Server() as server:
        os.environ.update(server.env())
        scratch = Path(tmp)
        (scratch / "src").mkdir()
        images = make_images(scratch / "src", args.objects)
        print("--- moto on loopback, as fast as it answers", flush=True)
        lines = table(f"moto S3 server on loopback, {len(images):,} images",
                      *measure(server, images, scratch, args.repeats, args.concurrency, 0.0),
                      args.concurrency)
        if args.latency:
            few = images[: max(1, len(images) // 5)]
            print(f"--- {args.latency * 1000:g} ms added per request", flush=True)
            lines += table(f"{args.latency * 1000:g} ms added to every request (a cloud-like "
                           f"round trip), {len(few):,} images",
                           *measure(server, few, scratch, args.repeats, args.concurrency,
                                    args.latency), args.concurrency)
    lines.append(f"Images of 20-60 KB of random bytes; medians of {args.repeats} repeats, each "
                 f"on a fresh bucket; measured {time.strftime('%Y-%m-%d')} on "
                 f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, obstore "
                 f"{_version('obstore')}, moto {_version('moto')}. Reproduce: `{command}`.")
    print("\n" + "\n".join(lines))
    return 0


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    sys.exit(main())
