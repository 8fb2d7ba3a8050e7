"""The boundary with obstore: building a client from a :class:`StoreUrl` and the environment,
and translating every error it raises into :mod:`seedflow.store.errors`.

obstore reads each cloud's standard environment itself (``AWS_*``, ``GOOGLE_*``, ``AZURE_*``);
nothing here takes a credential as an argument. Plain ``http://`` is allowed only when the
configured endpoint is itself ``http://`` (a MinIO or moto server on loopback, the Azurite
emulator), never silently for a cloud.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import obstore.exceptions as obx
from obstore.store import AzureStore, GCSStore, LocalStore, MemoryStore, S3Store

from seedflow.store.errors import (
    ObjectMissing,
    StoreAccessDenied,
    StoreConfigError,
    StoreCredentialsError,
    StoreError,
    StoreIOError,
    StoreMissingBucket,
    StoreUnreachable,
)
from seedflow.store.url import StoreUrl

if TYPE_CHECKING:
    from obstore.store import ClientConfig, ObjectStore, RetryConfig

MiB = 1 << 20


@dataclass(frozen=True)
class StoreOptions:
    """Bounds and timeouts of one store client."""

    max_object_bytes: int = 64 * MiB   # refuse larger objects (uploads and downloads)
    concurrency: int = 16              # transfers in flight at once in batch operations
    max_retries: int = 3               # per request, for 5xx, dropped connections, timeouts
    retry_timeout: float = 60.0        # seconds: no retry starts later than this
    connect_timeout: float = 5.0       # seconds
    request_timeout: float = 120.0     # seconds, one whole request (a 64 MiB body included)

    def __post_init__(self) -> None:
        if self.max_object_bytes < 1 or self.concurrency < 1 or self.max_retries < 0 or min(
                self.retry_timeout, self.connect_timeout, self.request_timeout) <= 0:
            raise ValueError(f"invalid store options: {self}")


# Environment variables whose values must never appear in a message.
SECRET_VARS = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_TOKEN", "AWS_SSE_CUSTOMER_KEY_BASE64", "GOOGLE_SERVICE_ACCOUNT_KEY",
    "GOOGLE_BEARER_TOKEN", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_MASTER_KEY", "AZURE_STORAGE_SAS_KEY", "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_TOKEN", "AZURE_CLIENT_SECRET", "AZURE_STORAGE_CLIENT_SECRET",
    "AZURE_ENCRYPTION_KEY",
)
_QUERY_SECRET = re.compile(
    r"((?:X-Amz-[A-Za-z-]+|Signature|AWSAccessKeyId|Credential|sig|token|access_token)=)"
    r"[^&\s\"'<>]+", re.IGNORECASE)
_AUTH_HEADER = re.compile(r"(authorization[\"']?\s*[:=]\s*[\"']?)[^\"'\n,}]+", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` without any secret from the environment, signed-URL query or auth header."""
    for name in SECRET_VARS:
        value = os.environ.get(name, "")
        if len(value) >= 4:
            text = text.replace(value, "***")
    text = _QUERY_SECRET.sub(r"\1***", text)
    return _AUTH_HEADER.sub(r"\1***", text)


def endpoint_of(url: StoreUrl) -> str | None:
    """The configured custom endpoint (without any user:password@), or None for the cloud's."""
    names = {"s3": ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"),
             "gs": ("GOOGLE_BASE_URL",),
             "az": ("AZURE_STORAGE_ENDPOINT", "AZURE_ENDPOINT")}.get(url.scheme, ())
    for name in names:
        if value := os.environ.get(name, "").strip():
            parts = urlsplit(value)
            host = parts.netloc.rsplit("@", 1)[-1]
            return f"{parts.scheme}://{host}{parts.path}".rstrip("/")
    if url.scheme == "az" and _truthy(os.environ.get("AZURE_STORAGE_USE_EMULATOR", "")):
        return "http://127.0.0.1:10000"
    return None


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def build(url: StoreUrl, options: StoreOptions) -> ObjectStore:
    """An obstore client for ``url`` (the folder of a ``file`` store must exist)."""
    if url.scheme == "file":
        return LocalStore(url.folder)
    if url.scheme == "memory":
        return MemoryStore()
    endpoint = endpoint_of(url)
    client: ClientConfig = {
        "allow_http": bool(endpoint and endpoint.lower().startswith("http://")),
        "connect_timeout": timedelta(seconds=options.connect_timeout),
        "timeout": timedelta(seconds=options.request_timeout),
    }
    retry: RetryConfig = {
        "max_retries": options.max_retries,
        "retry_timeout": timedelta(seconds=options.retry_timeout),
        "backoff": {"init_backoff": timedelta(milliseconds=100),
                    "max_backoff": timedelta(seconds=2), "base": 2},
    }
    prefix = url.prefix or None
    try:
        if url.scheme == "s3":
            return S3Store(url.bucket, prefix=prefix, client_options=client, retry_config=retry)
        if url.scheme == "gs":
            return GCSStore(url.bucket, prefix=prefix, client_options=client,
                            retry_config=retry)
        return AzureStore(url.bucket, prefix=prefix, client_options=client, retry_config=retry)
    except (obx.BaseError, ValueError) as exc:
        raise StoreConfigError(str(url), f"The store {url} cannot be set up from the "
                               f"environment: {_detail(exc)} {_hint_setup(url)}") from None


def _hint_setup(url: StoreUrl) -> str:
    return {"s3": "Check AWS_REGION and AWS_ENDPOINT_URL (see docs/store.md).",
            "gs": "Check GOOGLE_APPLICATION_CREDENTIALS or GOOGLE_SERVICE_ACCOUNT "
                  "(see docs/store.md).",
            "az": "Set AZURE_STORAGE_ACCOUNT_NAME and a credential such as "
                  "AZURE_STORAGE_ACCOUNT_KEY (see docs/store.md)."}.get(url.scheme, "")


# --- error translation -------------------------------------------------------------------------

_CODE = re.compile(r"<Code>([A-Za-z]+)</Code>|\"(?:code|reason)\"\s*:\s*\"?([A-Za-z]+)")
_STATUS = re.compile(r"status code: (\d{3})")
_CREDENTIAL_CODES = {
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
    "TokenRefreshRequired", "InvalidClientTokenId", "AuthenticationFailed",
    "InvalidAuthenticationInfo", "NoAuthenticationInformation", "authError",
}
_DENIED_CODES = {"AccessDenied", "AllAccessDisabled", "AuthorizationFailure",
                 "AuthorizationPermissionMismatch", "forbidden", "insufficientPermissions"}
_MISSING_BUCKET_CODES = {"NoSuchBucket", "ContainerNotFound"}
_REGION_CODES = {"PermanentRedirect", "AuthorizationHeaderMalformed",
                 "IllegalLocationConstraintException", "IncorrectEndpoint"}
_CONNECT = ("error sending request", "connection refused", "dns error", "tcp connect",
            "timed out", "connection reset", "connect error", "operation timed out")
_CREDENTIAL_FETCH = ("credential", "token request", "metadata endpoint", "imds",
                     "missing access key", "missing secret")


def translate(exc: BaseException, url: StoreUrl, what: str) -> StoreError:
    """The :class:`StoreError` for an obstore (or OS) failure while doing ``what``."""
    shown = str(url)
    text = str(exc)
    code = _code(text)
    status = _STATUS.search(text)
    lowered = text.lower()
    if isinstance(exc, StoreError):
        return exc
    if code in _MISSING_BUCKET_CODES or "bucket does not exist" in lowered:
        return _missing_bucket(url)
    if isinstance(exc, FileNotFoundError):
        return ObjectMissing(shown, f"{what}: not in the store {shown}.")
    if code in _REGION_CODES:
        return StoreConfigError(shown, f"The store {shown} is in another region than the one "
                                f"configured ({code}): set AWS_REGION to the bucket's region.")
    if code in _CREDENTIAL_CODES or isinstance(exc, obx.UnauthenticatedError) or (
            status and status.group(1) == "401"):
        return StoreCredentialsError(shown, f"The store {shown} refused the credentials "
                                     f"({code or 'unauthenticated'}): {_hint_credentials(url)}")
    if isinstance(exc, (obx.PermissionDeniedError, PermissionError)) or code in _DENIED_CODES \
            or (status and status.group(1) == "403"):
        return _denied(url, what, code)
    if "badscheme" in lowered or "builder error" in lowered or "url scheme" in lowered:
        return StoreConfigError(shown, f"The store {shown} has an unusable endpoint "
                                f"{endpoint_of(url) or ''}: check AWS_ENDPOINT_URL (http:// or "
                                "https:// followed by a host).")
    if any(marker in lowered for marker in _CONNECT):
        return _unreachable(url)
    if any(marker in lowered for marker in _CREDENTIAL_FETCH):
        return StoreCredentialsError(shown, f"No credentials for the store {shown} could be "
                                     f"found: {_hint_credentials(url)}")
    if status and status.group(1).startswith("5"):
        return StoreIOError(shown, f"{what}: the store {shown} answered {status.group(1)} after "
                            "retries; try again later.")
    return StoreIOError(shown, f"{what}: the store {shown} failed: {_detail(exc)}")


def _code(text: str) -> str | None:
    match = _CODE.search(text)
    return (match.group(1) or match.group(2)) if match else None


def _detail(exc: BaseException) -> str:
    """The first line of ``exc``'s message, secrets removed, bounded."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return redact(first)[:300]


def _missing_bucket(url: StoreUrl) -> StoreMissingBucket:
    kind = {"az": "container", "file": "folder"}.get(url.scheme, "bucket")
    return StoreMissingBucket(str(url), f"The store {url}: the {kind} {url.bucket!r} does not "
                              f"exist. Create it (see docs/store.md) or fix the store URL.")


def _denied(url: StoreUrl, what: str, code: str | None) -> StoreAccessDenied:
    if url.scheme == "file":
        return StoreAccessDenied(str(url), f"{what}: permission denied in the store folder "
                                 f"{url}: check the folder's owner and permissions.")
    detail = f" ({code})" if code else ""
    return StoreAccessDenied(
        str(url), f"{what}: access denied by the store {url}{detail}. The credentials were "
        f"refused or lack a permission: {_hint_credentials(url)} The store needs to read, "
        "list and write objects under its prefix (see docs/store.md).")


def _unreachable(url: StoreUrl) -> StoreUnreachable:
    endpoint = endpoint_of(url)
    where = f" at {endpoint}" if endpoint else ""
    return StoreUnreachable(str(url), f"Cannot reach the store {url}{where}: check the network "
                            f"and the endpoint ({_endpoint_var(url)}), then try again.")


def _endpoint_var(url: StoreUrl) -> str:
    return {"s3": "AWS_ENDPOINT_URL", "gs": "GOOGLE_BASE_URL",
            "az": "AZURE_STORAGE_ENDPOINT"}.get(url.scheme, "the store URL")


def _hint_credentials(url: StoreUrl) -> str:
    return {
        "s3": "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for "
              "temporary credentials), or the role the runner assumes.",
        "gs": "check GOOGLE_APPLICATION_CREDENTIALS (or GOOGLE_SERVICE_ACCOUNT) and the "
              "service account's roles.",
        "az": "check AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY, "
              "AZURE_STORAGE_SAS_TOKEN or AZURE_CLIENT_ID/AZURE_CLIENT_SECRET/AZURE_TENANT_ID.",
    }.get(url.scheme, "check the folder's permissions.")
