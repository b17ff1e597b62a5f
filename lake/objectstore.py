"""Where the lake's files live: a local folder or an object store, opened from ``lake.storage_options``.

delta-rs takes ``lake.storage_options`` itself. Everything else that touches the files underneath
(the Spark executors reading a pinned snapshot and writing staged parquet, the driver committing
them) opens them with pyarrow through :func:`filesystem`, built from the same options, so a lake
on S3 needs nothing but the config: no credentials in the executors' environment, no Hadoop S3
connector in Spark (pyspark ships without one, and its jars come from Maven).

The keys are delta-rs's (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``AWS_REGION``, ``AWS_ALLOW_HTTP``; lower case is accepted too). What the
options leave out, pyarrow takes from the environment and the usual AWS files, as delta-rs does.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import unquote, urlparse

import pyarrow.fs as pafs

LOCAL_SCHEMES = ("", "file")
S3_SCHEMES = ("s3", "s3a")


class StorageError(ValueError):
    """A lake URI or storage option this module cannot open (the message names it)."""


def scheme(uri: str) -> str:
    return urlparse(uri).scheme.lower() if "://" in uri else ""


def is_local(uri: str) -> bool:
    return scheme(uri) in LOCAL_SCHEMES


def _option(options: dict[str, str], *names: str) -> str | None:
    lower = {k.lower(): v for k, v in options.items()}
    for n in names:
        if lower.get(n.lower()) not in (None, ""):
            return str(lower[n.lower()])
    return None


def _s3(options: tuple[tuple[str, str], ...]) -> pafs.S3FileSystem:
    opts = dict(options)
    kwargs = {}
    endpoint = _option(opts, "AWS_ENDPOINT_URL", "AWS_ENDPOINT", "endpoint_url", "endpoint")
    if endpoint:
        parsed = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
        if parsed.scheme == "http" and (_option(opts, "AWS_ALLOW_HTTP", "allow_http") or "false").lower() != "true":
            raise StorageError(f"lake.storage_options: AWS_ENDPOINT_URL {endpoint} is plain http; "
                               "set AWS_ALLOW_HTTP: 'true' to allow it")
        kwargs.update(endpoint_override=parsed.netloc, scheme=parsed.scheme or "https")
    key, secret = _option(opts, "AWS_ACCESS_KEY_ID", "access_key_id"), _option(opts, "AWS_SECRET_ACCESS_KEY",
                                                                                 "secret_access_key")
    if bool(key) != bool(secret):
        raise StorageError("lake.storage_options: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together")
    if key:
        kwargs.update(access_key=key, secret_key=secret,
                      session_token=_option(opts, "AWS_SESSION_TOKEN", "session_token"))
    region = _option(opts, "AWS_REGION", "AWS_DEFAULT_REGION", "region")
    if region:
        kwargs["region"] = region
    return pafs.S3FileSystem(**kwargs, connect_timeout=10, request_timeout=60,
                             retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=5))


@lru_cache(maxsize=16)
def _cached(kind: str, options: tuple[tuple[str, str], ...]) -> pafs.FileSystem:
    if kind == "s3":
        return _s3(options)
    return pafs.LocalFileSystem()


def filesystem(uri: str, storage_options: dict[str, str] | None = None) -> tuple[pafs.FileSystem, str]:
    """(pyarrow filesystem, path inside it) for a lake URI; one filesystem per option set and process."""
    kind = scheme(uri)
    if kind in LOCAL_SCHEMES:
        return _cached("local", ()), unquote(urlparse(uri).path) if kind else uri
    if kind in S3_SCHEMES:
        parsed = urlparse(uri)
        if not parsed.netloc:
            raise StorageError(f"lake URI {uri!r} names no bucket")
        items = tuple(sorted((str(k), str(v)) for k, v in (storage_options or {}).items()))
        return _cached("s3", items), f"{parsed.netloc}{parsed.path}".rstrip("/")
    try:  # another scheme pyarrow knows (gs://, abfs://, hdfs://): its own configuration
        return pafs.FileSystem.from_uri(uri)
    except Exception as e:  # noqa: BLE001 - named in one line
        raise StorageError(f"lake URI {uri!r}: pyarrow cannot open scheme {kind!r} ({e})") from None
