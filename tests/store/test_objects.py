"""The store's guarantees, on every backend: content-addressed, written once, verified on
read, atomic local writes, no symlink followed."""

from __future__ import annotations

from pathlib import Path

import obstore
import pytest
from storekit import head, image, leftovers, run, tamper

from seedflow.store import (
    ObjectCorrupt,
    ObjectMissing,
    ObjectStore,
    ObjectTooLarge,
    Outcome,
    StoreOptions,
    UnsafeDestination,
)
from seedflow.store import objects as objects_module


def test_round_trip_is_byte_identical(store: ObjectStore, tmp_path: Path) -> None:
    src, sha = image(tmp_path / "src", "a.png")
    assert run(store.has(sha)) is False
    assert run(store.put_file(src, sha)) is Outcome.TRANSFERRED
    assert run(store.has(sha)) is True
    dest = tmp_path / "out" / "deep" / "a.png"
    assert run(store.get_file(sha, dest, size=src.stat().st_size)) is Outcome.TRANSFERRED
    assert dest.read_bytes() == src.read_bytes()
    assert leftovers(dest.parent) == []


def test_an_object_already_there_is_not_written_again(store: ObjectStore,
                                                      tmp_path: Path) -> None:
    src, sha = image(tmp_path, "a.png")
    run(store.put_file(src, sha))
    before = head(store, sha)
    copy = tmp_path / "copy.png"
    copy.write_bytes(src.read_bytes())
    assert run(store.put_file(copy, sha)) is Outcome.PRESENT
    assert head(store, sha) == before


def test_a_create_race_counts_as_present_and_keeps_the_first_object(
        store: ObjectStore, tmp_path: Path) -> None:
    src, sha = image(tmp_path, "a.png")
    run(store.put_file(src, sha))
    before = head(store, sha)
    assert run(store.put_file(src, sha, known_missing=True)) is Outcome.PRESENT
    assert head(store, sha) == before


def test_a_file_that_does_not_match_its_sha256_is_not_uploaded(store: ObjectStore,
                                                              tmp_path: Path) -> None:
    src, _ = image(tmp_path, "a.png")
    _, other = image(tmp_path, "b.png")
    with pytest.raises(ObjectCorrupt, match=r"Not uploading .*a\.png: its sha256 is"):
        run(store.put_file(src, other))
    assert run(store.has(other)) is False


def test_a_symlinked_source_is_not_uploaded(store: ObjectStore, tmp_path: Path) -> None:
    src, sha = image(tmp_path, "a.png")
    link = tmp_path / "link.png"
    link.symlink_to(src)
    with pytest.raises(UnsafeDestination, match="it is a symlink"):
        run(store.put_file(link, sha))


def test_a_tampered_object_is_refused_and_dest_untouched(store: ObjectStore,
                                                         tmp_path: Path) -> None:
    src, sha = image(tmp_path / "src", "a.png")
    run(store.put_file(src, sha))
    tamper(store, sha, b"X" + src.read_bytes()[1:])  # same size, other bytes
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ObjectCorrupt) as caught:
        run(store.get_file(sha, out / "a.png"))
    assert caught.value.message.startswith(f"Object {sha} in the store is damaged: its content "
                                           "hashes to ")
    assert list(out.iterdir()) == []


def test_a_tampered_object_never_replaces_an_existing_file(store: ObjectStore,
                                                           tmp_path: Path) -> None:
    src, sha = image(tmp_path, "a.png")
    run(store.put_file(src, sha))
    tamper(store, sha, b"short")
    dest = tmp_path / "out.png"
    dest.write_bytes(b"old content")
    with pytest.raises(ObjectCorrupt, match="has 5 bytes but the lock records"):
        run(store.get_file(sha, dest, size=src.stat().st_size, overwrite=True))
    assert dest.read_bytes() == b"old content"
    assert leftovers(tmp_path) == []


def test_a_symlink_at_dest_is_refused_and_its_target_untouched(store: ObjectStore,
                                                               tmp_path: Path) -> None:
    src, sha = image(tmp_path, "a.png")
    run(store.put_file(src, sha))
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    dest = tmp_path / "out.png"
    dest.symlink_to(target)
    for overwrite in (False, True):
        with pytest.raises(UnsafeDestination) as caught:
            run(store.get_file(sha, dest, overwrite=overwrite))
        assert caught.value.message == (
            f"Not writing {dest}: it is a symlink, and seedflow never writes through one. "
            "Remove it and try again.")
    assert target.read_text() == "keep me" and dest.is_symlink()


def test_a_different_file_at_dest_is_kept_unless_overwrite(store: ObjectStore,
                                                           tmp_path: Path) -> None:
    src, sha = image(tmp_path, "a.png")
    run(store.put_file(src, sha))
    dest = tmp_path / "out.png"
    dest.write_bytes(b"someone else's")
    with pytest.raises(UnsafeDestination, match="a different file is there"):
        run(store.get_file(sha, dest))
    assert dest.read_bytes() == b"someone else's"
    assert run(store.get_file(sha, dest, overwrite=True)) is Outcome.TRANSFERRED
    assert dest.read_bytes() == src.read_bytes()


def test_an_intact_dest_costs_no_transfer(store: ObjectStore, tmp_path: Path) -> None:
    src, sha = image(tmp_path, "a.png")
    run(store.put_file(src, sha))
    tamper(store, sha, b"would fail if read")
    assert run(store.get_file(sha, src)) is Outcome.PRESENT


def test_a_missing_object(store: ObjectStore, tmp_path: Path) -> None:
    _, sha = image(tmp_path, "a.png")
    run(store.check_writable())  # a folder store's folder exists from here on
    with pytest.raises(ObjectMissing) as caught:
        run(store.get_file(sha, tmp_path / "out.png"))
    assert caught.value.message == (f"Downloading {sha} to {tmp_path / 'out.png'}: not in the "
                                    f"store {store.url}.")
    assert not (tmp_path / "out.png").exists()


def test_objects_over_the_cap_are_refused_both_ways(store: ObjectStore,
                                                    tmp_path: Path) -> None:
    src, sha = image(tmp_path, "a.png", size=5000)
    run(store.put_file(src, sha))
    small = ObjectStore(store.location, StoreOptions(max_object_bytes=4096))
    small._backend = store._backend  # the same client (a memory store lives in it)
    with pytest.raises(ObjectTooLarge, match="is 5,000 bytes, more than the limit of 4,096"):
        run(small.get_file(sha, tmp_path / "out.png"))
    big, big_sha = image(tmp_path, "b.png", size=5000)
    with pytest.raises(ObjectTooLarge, match="5,000 bytes is more than the store's limit"):
        run(small.put_file(big, big_sha))
    assert not (tmp_path / "out.png").exists()


def test_a_size_other_than_the_lock_records_is_refused(store: ObjectStore,
                                                       tmp_path: Path) -> None:
    src, sha = image(tmp_path, "a.png", size=1000)
    run(store.put_file(src, sha))
    with pytest.raises(ObjectCorrupt, match="has 1,000 bytes but the lock records 999"):
        run(store.get_file(sha, tmp_path / "out.png", size=999))


@pytest.mark.parametrize("way", [None, "head", "list-prefixes", "list-all"])
def test_has_many(store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                  way: str | None) -> None:
    if way:  # few digests, and each way of asking forced in turn
        monkeypatch.setattr(objects_module, "LIST_MIN", 2)
        monkeypatch.setattr(objects_module, "cheapest", lambda *_: way)
    files = [image(tmp_path, f"{i}.png", size=100) for i in range(12)]
    for path, sha in files[:7]:
        run(store.put_file(path, sha))
    run(store.check_writable())  # a probe object is not mistaken for an image
    assert run(store.has_many(sha for _, sha in files)) == {sha for _, sha in files[:7]}
    assert run(store.has_many([])) == set()


@pytest.mark.parametrize(("heads", "prefixes", "listed", "way"), [
    (300, 200, 0, "list-all"),            # an empty store: one listing says it all
    (300, 200, 30, "list-all"),           # ~7,700 objects: 8 pages < 200 listings < 300 HEADs
    (300, 200, 1_000, "list-prefixes"),   # ~256,000 objects: 200 listings < 256 pages < 300
    (5_000, 256, 1_500, "list-all"),      # 384 pages < 512 listings < 5,000 HEADs
    (10, 10, 5_000, "head"),              # a big store, few digests: 10 HEADs
    (200, 200, 1_000, "head"),            # a tie goes to HEADs (no listing to page through)
])
def test_the_cheapest_way_to_ask(heads: int, prefixes: int, listed: int, way: str) -> None:
    assert objects_module.cheapest(heads, prefixes, listed) == way


def test_check_writable_and_readable_leave_no_probe(store: ObjectStore) -> None:
    run(store.check_writable())
    run(store.check_readable())
    assert obstore.list(store._store(), prefix=".seedflow-probe/").collect() == []


def test_the_store_shows_its_url_and_nothing_else(store: ObjectStore) -> None:
    assert repr(store) == f"ObjectStore({store.url!r})"
