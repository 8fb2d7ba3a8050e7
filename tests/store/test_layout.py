"""Object keys: ``sha256/ab/cdef…``, nothing else."""

from __future__ import annotations

import hashlib

import pytest

from seedflow.store import ObjectStore, key
from seedflow.store.layout import sha_of_key

SHA = hashlib.sha256(b"x").hexdigest()


def test_key_fans_out_on_the_first_two_hex_digits() -> None:
    assert key(SHA) == f"sha256/{SHA[:2]}/{SHA[2:]}"
    assert ObjectStore.key(SHA) == key(SHA)
    assert sha_of_key(key(SHA)) == SHA


@pytest.mark.parametrize("bad", ["", SHA.upper(), SHA[:-1], SHA + "0", "../" + SHA[3:],
                                 "g" * 64])
def test_anything_but_a_lowercase_sha256_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a sha256 hex digest"):
        key(bad)


@pytest.mark.parametrize("other", [".seedflow-probe/abc", f"sha256/{SHA}", f"md5/{SHA[:2]}/x",
                                   f"sha256/{SHA[:3]}/{SHA[3:]}"])
def test_keys_that_are_not_objects_map_to_no_digest(other: str) -> None:
    assert sha_of_key(other) is None
