"""Synthetic pipelines and lockfiles of a given size, written to a scratch folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from seedflow.atomic import write_atomic
from seedflow.lock.format import lock_text
from seedflow.lock.model import LockedImage, LockEntry, State
from seedflow.outputs.statcache import StatCache, cache_path, stat_key
from seedflow.project import load_project

# (products, colours, aspects, seeds) whose product is the combination count
SHAPES = {1_000: (50, 20, 1, 1), 10_000: (100, 50, 2, 1), 100_000: (100, 50, 4, 5)}
ASPECTS = ["1:1", "16:9", "4:3", "3:2"]


def plan_pipeline(folder: Path, size: int, provider: str = "apikley") -> Path:
    products, colours, aspects, seeds = SHAPES[size]
    doc = {
        "version": 1, "provider": provider, "output_dir": "out",
        "limits": {"max_combinations": size},
        "vars": {"style": "soft studio light, seamless white backdrop"},
        "defaults": {"resolution": "2K"},
        "assets": {"grid": {
            "prompt": "Product photo of {{ product.text }} in {{ colour }}, {{ style }}",
            "matrix": {
                "product": [{"id": f"p{i}", "text": f"product number {i}"}
                            for i in range(products)],
                "colour": [f"colour-{i}" for i in range(colours)],
                "aspect": ASPECTS[:aspects],
                "seed": list(range(1, seeds + 1)),
            },
            "output": "{{ product.id }}/{{ colour }}/{{ aspect | slug }}-s{{ seed }}.png",
        }},
    }
    path = folder / f"plan-{size}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def lock_everything(pipeline: Path) -> Path:
    """A lock where every combination succeeded, with a 1-byte file per output, and the stat
    cache apply leaves beside it (apply remembers each image it writes)."""
    project = load_project(pipeline)
    lock = pipeline.with_suffix(".lock")
    cache = StatCache(cache_path(lock))
    digest = hashlib.sha256(b"x").hexdigest()
    entries = []
    for combo in project.combinations:
        images = []
        for out in combo.outputs:
            target = pipeline.parent / out
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"x")
            cache.remember(out, stat_key(target.stat()), digest)
            images.append(LockedImage(out, digest, 1,
                                      f"https://example.invalid/{combo.fingerprint}.png"))
        entries.append(LockEntry(
            fingerprint=combo.fingerprint, address=combo.address, asset=combo.asset,
            provider=combo.provider, state=State.SUCCEEDED, request=combo.request,
            task_id=f"task_{combo.fingerprint[:12]}", submitted_at="2026-01-01T00:00:00Z",
            completed_at="2026-01-01T00:00:10Z", images=tuple(images)))
    write_atomic(lock, lock_text(entries))
    cache.save()
    return lock


def orphan_lock(path: Path, count: int) -> None:
    """A lock of ``count`` finished entries that no pipeline refers to (a large history)."""
    entries = []
    for i in range(count):
        fp = hashlib.sha256(str(i).encode()).hexdigest()[:32]
        entries.append(LockEntry(
            fingerprint=fp, address=f"history[n={i}]", asset="history", provider="apikley",
            state=State.SUCCEEDED, task_id=f"task_{i}", submitted_at="2026-01-01T00:00:00Z",
            completed_at="2026-01-01T00:00:10Z",
            request={"model": "bytedance/seedream-v4-text-to-image",
                     "input": {"prompt": f"an old image number {i}", "image_size": "square_hd"}},
            images=(LockedImage(f"old/{i}.png", "0" * 64, 1000,
                                f"https://example.invalid/{i}.png"),)))
    write_atomic(path, lock_text(entries))


def apply_pipeline(folder: Path, tasks: int, name: str = "apply") -> Path:
    doc = {
        "version": 1, "provider": "apikley", "output_dir": f"out-{name}",
        "limits": {"max_combinations": max(tasks, 1)},
        "assets": {"bench": {
            "prompt": "Benchmark image {{ n }}",
            "matrix": {"n": list(range(tasks))},
            "aspect": "1:1",
            "output": "{{ n }}.png",
        }},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def unrelated_lock(pipeline: Path, count: int) -> Path:
    """:func:`lock_everything`, plus ``count`` finished entries of an asset the pipeline no
    longer has (a long history), written line by line: a million entries take seconds, not
    the minutes building and sorting LockEntry objects would."""
    lock = lock_everything(pipeline)
    with lock.open("a", encoding="utf-8") as out:
        for start in range(0, count, 10_000):   # "history[...]" sorts after the pipeline's
            out.write("".join(_history_line(i) for i in range(start, min(count, start + 10_000))))
    assert _history_line(0) == _history_entry(0).line() + "\n"
    return lock


def _history_fingerprint(i: int) -> str:
    return f"{(i * 0x9E3779B97F4A7C15 + 1) % 2**128:032x}"


def _history_line(i: int) -> str:
    """What LockEntry.line() writes for :func:`_history_entry` (the fixture checks one)."""
    return (f'{{"fingerprint":"{_history_fingerprint(i)}","address":"history[n={i:07d}]",'
            '"asset":"history","provider":"apikley","state":"succeeded",'
            f'"task_id":"task_{i}","submitted_at":"2026-01-01T00:00:00Z",'
            '"completed_at":"2026-01-01T00:00:10Z","attempts":1,"request":{"model":'
            '"bytedance/seedream-v4-text-to-image","input":{"prompt":"an old image number '
            f'{i}","image_size":"square_hd"}}}},"images":[{{"path":"old/{i}.png","sha256":"'
            f'{"0" * 64}","size":1000,"url":"https://example.invalid/{i}.png"}}]}}\n')


def _history_entry(i: int) -> LockEntry:
    return LockEntry(
        fingerprint=_history_fingerprint(i), address=f"history[n={i:07d}]", asset="history",
        provider="apikley", state=State.SUCCEEDED, task_id=f"task_{i}",
        submitted_at="2026-01-01T00:00:00Z", completed_at="2026-01-01T00:00:10Z",
        request={"model": "bytedance/seedream-v4-text-to-image",
                 "input": {"prompt": f"an old image number {i}", "image_size": "square_hd"}},
        images=(LockedImage(f"old/{i}.png", "0" * 64, 1000, f"https://example.invalid/{i}.png"),))
