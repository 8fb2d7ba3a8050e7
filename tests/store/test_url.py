"""Store URLs: every accepted form, and a clear refusal for everything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from seedflow.store import StoreConfigError, StoreUrl, parse_store_url


@pytest.mark.parametrize(("text", "expected"), [
    ("s3://images", StoreUrl("s3", "images")),
    ("s3://my.images-1/catalog/v2/", StoreUrl("s3", "my.images-1", "catalog/v2")),
    ("gs://team_images/x", StoreUrl("gs", "team_images", "x")),
    ("az://container-1/p", StoreUrl("az", "container-1", "p")),
    ("S3://images/p", StoreUrl("s3", "images", "p")),
    ("memory://", StoreUrl("memory", "")),
    ("file:///srv/store", StoreUrl("file", "/srv/store")),
    ("file://localhost/srv/my%20store", StoreUrl("file", "/srv/my store")),
    ("/srv/store/../other", StoreUrl("file", "/srv/other")),
])
def test_accepted_forms(text: str, expected: StoreUrl) -> None:
    assert parse_store_url(text) == expected


def test_a_relative_folder_is_taken_from_the_base(tmp_path: Path) -> None:
    assert parse_store_url("../store", base=tmp_path / "pipelines") == \
        StoreUrl("file", str(tmp_path / "store"))


def test_shown_without_scheme_for_a_folder_and_with_prefix_for_a_bucket() -> None:
    assert str(parse_store_url("/srv/store")) == "/srv/store"
    assert str(parse_store_url("s3://images//")) == "s3://images"
    assert str(parse_store_url("gs://images/a/b")) == "gs://images/a/b"


@pytest.mark.parametrize(("text", "message"), [
    ("", "The store URL is empty: use a folder path, file://PATH, s3://BUCKET/PREFIX, "
         "gs://BUCKET/PREFIX, az://CONTAINER/PREFIX."),
    ("ftp://host/x", "The store URL 'ftp://host/x' has an unknown scheme 'ftp://': use a folder "
                     "path, file://PATH, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, "
                     "az://CONTAINER/PREFIX."),
    ("s3://Images", "The store URL 's3://Images' has an invalid bucket name 'Images'."),
    ("s3://ab", "The store URL 's3://ab' has an invalid bucket name 'ab'."),
    ("az://a--b", "The store URL 'az://a--b' has an invalid container name 'a--b'."),
    ("s3://images/a/../b", "The store URL 's3://images/a/../b' has an invalid prefix "
                           "'a/../b': no empty, '.' or '..' components."),
    ("s3://images:9000/a", "The store URL 's3://images:9000/a' may not have a port, query or "
                           "fragment: the endpoint comes from the environment "
                           "(AWS_ENDPOINT_URL for S3-compatible servers)."),
    ("file://server/share", "The store URL 'file://server/share' is not a local file URL: "
                            "write file:///absolute/path (three slashes)."),
    ("~no-such-user-7f3a/store", "The store URL '~no-such-user-7f3a/store' starts with a home "
                                 "folder that cannot be found: write the folder's full path."),
])
def test_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(StoreConfigError) as caught:
        parse_store_url(text)
    assert caught.value.message == message


def test_credentials_in_the_url_are_refused_and_never_repeated() -> None:
    with pytest.raises(StoreConfigError) as caught:
        parse_store_url("s3://AKIAXXXX:canary-secret@images/p?token=canary-token")
    assert caught.value.message == (
        "The store URL 's3://images/p' contains credentials: remove them and set them in the "
        "environment instead (see docs/store.md).")
    assert "canary" not in repr(caught.value) and "canary" not in caught.value.url
