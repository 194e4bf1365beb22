"""Location: one file or folder of a store, on local disk or in S3-compatible object storage.

A store root is a local path, a ``file://`` URI or ``s3://bucket/prefix``. Local files go
through the OS (atomic writes: temp file + ``os.replace``); S3 objects through pyarrow's
S3FileSystem, where one PUT is atomic (readers see the old object or the whole new one).

Credentials never pass through latentops: pyarrow and deltalake read AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (or their other usual sources) themselves. What is
taken from the environment here is not secret: the endpoint (AWS_ENDPOINT_URL, for MinIO,
moto, R2 ...), the region (AWS_REGION / AWS_DEFAULT_REGION) and, for an ``http://`` endpoint,
deltalake's AWS_ALLOW_HTTP switch.
"""

from __future__ import annotations

import fnmatch
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pyarrow.fs as pafs

from latentops.errors import (
    InvalidInputError,
    LatentOpsError,
    NotFoundError,
    UnsupportedOperationError,
)

SUPPORTED = "a local path, file:///abs/path or s3://bucket/prefix"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(//)?")
# "scheme:/x" with one of these is a URI that pathlib folded, not a local folder name
_URI_SCHEMES = frozenset(
    {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "http", "https", "hdfs", "r2", "ftp"}
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SECRETS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


class StoreAccessError(LatentOpsError, OSError):
    """Object storage cannot be reached: endpoint down, bucket missing, credentials refused."""


def endpoint() -> str | None:
    """The S3 endpoint from AWS_ENDPOINT_URL (None: AWS S3 itself)."""
    return os.environ.get("AWS_ENDPOINT_URL") or None


def storage_options_for(uri: str) -> dict[str, str] | None:
    """deltalake ``storage_options`` for ``uri``: non-secret switches only (None when local)."""
    if not uri.startswith("s3://"):
        return None
    url = endpoint()
    return {"AWS_ALLOW_HTTP": "true"} if url and url.startswith("http://") else {}


def _s3_filesystem() -> pafs.S3FileSystem:
    """A pyarrow S3 filesystem on the environment's endpoint and region (credentials: its own)."""
    options: dict[str, Any] = {
        "connect_timeout": 5,
        "request_timeout": 30,
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=3),
    }
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    if endpoint():
        options["endpoint_override"] = endpoint()
    return pafs.S3FileSystem(**options)


def _redact(text: str) -> str:
    """``text`` as one line without terminal colours or any secret from the environment."""
    text = " ".join(_ANSI.sub("", text).split())
    for name in _SECRETS:
        secret = os.environ.get(name)
        if secret:
            text = text.replace(secret, "***")
    return text[:400]


def access_error(exc: BaseException, action: str, uri: str) -> StoreAccessError:
    """A StoreAccessError for a failed ``action`` on ``uri`` that names what to check."""
    reason = _redact(str(exc))
    bucket = urlsplit(uri).netloc
    return StoreAccessError(
        f"cannot {action} {uri}: {reason}. Check AWS_ENDPOINT_URL (now "
        f"{endpoint() or 'unset, so AWS S3'}), AWS_REGION, the credentials "
        f"(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and that bucket {bucket!r} exists"
    )


def _s3_parts(uri: str) -> tuple[str, list[str]]:
    """(bucket, key parts) of an ``s3://`` URI, refusing empty buckets and '.'/'..' parts."""
    split = urlsplit(uri)
    parts = [p for p in split.path.split("/") if p]
    if not split.netloc or any(p in (".", "..") for p in parts) or split.query or split.fragment:
        raise InvalidInputError(
            f"{uri!r} is not a usable S3 location; write it as s3://bucket/prefix "
            "(no '.' or '..' parts, no query)"
        )
    return split.netloc, parts


class Location:
    """A file or folder in a store; ``str()`` is its URI (the absolute path when local)."""

    __slots__ = ("uri", "fs", "path", "is_local")

    def __init__(self, uri: str, fs: pafs.FileSystem, path: str, is_local: bool) -> None:
        self.uri = uri
        self.fs = fs
        self.path = path  # the filesystem's own path: /abs/dir locally, bucket/key on S3
        self.is_local = is_local

    @classmethod
    def of(cls, where: str | os.PathLike[str] | Location) -> Location:
        """Parse a local path, ``file://`` URI or ``s3://bucket/prefix`` into a Location."""
        if isinstance(where, Location):
            return where
        text = os.fspath(where)
        match = _SCHEME.match(text)
        scheme = match.group(1).lower() if match else ""
        slashes = bool(match and match.group(2))
        if scheme in _URI_SCHEMES and not slashes:
            # pathlib folds "s3://b/p" to "s3:/b/p": refuse rather than make a folder "s3:".
            raise InvalidInputError(
                f"{text!r} is missing a slash; write {scheme}://... as a string "
                "(pathlib.Path folds '//' to '/')"
            )
        if slashes and scheme not in ("s3", "file"):
            raise InvalidInputError(
                f"store location {text!r}: {scheme}:// is not supported; use {SUPPORTED}"
            )
        if scheme == "s3":
            bucket, parts = _s3_parts(text)
            key = "/".join([bucket, *parts])
            return cls(f"s3://{key}", _s3_filesystem(), key, False)
        if scheme == "file":
            split = urlsplit(text)
            if split.netloc not in ("", "localhost"):
                raise InvalidInputError(f"{text!r} names host {split.netloc!r}; use file:///path")
            text = url2pathname(split.path)
        path = str(Path(text).expanduser().resolve())
        return cls(path, pafs.LocalFileSystem(), path, True)

    # -- naming ---------------------------------------------------------------------------

    def __str__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f"Location({self.uri!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Location) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    def __fspath__(self) -> str:
        if not self.is_local:
            raise UnsupportedOperationError(
                f"{self.uri} is in object storage and has no local path; read it through "
                "latentops (Store, Location.read_bytes) instead"
            )
        return self.path

    def __truediv__(self, part: str) -> Location:
        return self.child(part)

    def child(self, *parts: str) -> Location:
        """The location ``parts`` below this one (each part may hold '/')."""
        names = [p for part in parts for p in str(part).split("/") if p]
        if any(p in (".", "..") for p in names):
            raise InvalidInputError(f"path parts {parts!r} must not contain '.' or '..'")
        if not names:
            return self
        if self.is_local:
            path = os.path.join(self.path, *names)
            return Location(path, self.fs, path, True)
        path = "/".join([self.path, *names])
        return Location(f"s3://{path}", self.fs, path, False)

    @property
    def name(self) -> str:
        """The last part of the path."""
        return self.path.rstrip("/").rpartition("/")[2]

    @property
    def parent(self) -> Location:
        """The folder holding this location (a bucket is its own parent)."""
        head = self.path.rpartition("/")[0]
        if self.is_local:
            head = head or "/"
            return Location(head, self.fs, head, True)
        head = head or self.path
        return Location(f"s3://{head}", self.fs, head, False)

    def with_suffix(self, suffix: str) -> Location:
        """This location with its name's suffix replaced (like ``Path.with_suffix``)."""
        stem, dot, _ = self.name.rpartition(".")
        return self.parent.child((stem if dot and stem else self.name) + suffix)  # .x -> .x.json

    def as_uri(self) -> str:
        """A URL for humans and links: ``file:///...`` locally, the ``s3://`` URI otherwise."""
        return Path(self.path).as_uri() if self.is_local else self.uri

    @contextmanager
    def _reaching(self, action: str) -> Iterator[None]:
        """Local OSErrors pass through as they are; S3 ones become a StoreAccessError."""
        try:
            yield
        except FileNotFoundError:
            raise
        except OSError as exc:
            if self.is_local:
                raise
            raise access_error(exc, action, self.uri) from None

    # -- reading --------------------------------------------------------------------------

    def _type(self) -> pafs.FileType:
        with self._reaching("look up"):
            return self.fs.get_file_info(self.path).type

    def exists(self) -> bool:
        """True if a file, or a folder / prefix holding something, is here."""
        return self._type() != pafs.FileType.NotFound

    def is_file(self) -> bool:
        """True if a file (object) is here."""
        return self._type() == pafs.FileType.File

    def is_dir(self) -> bool:
        """True if a folder (local) or a non-empty prefix (S3) is here."""
        return self._type() == pafs.FileType.Directory

    def iterdir(self) -> list[Location]:
        """Direct children (files and folders), sorted by name; empty when nothing is here."""
        with self._reaching("list"):
            infos = self.fs.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))
        return sorted((self.child(info.base_name) for info in infos), key=lambda c: c.name)

    def glob(self, pattern: str) -> list[Location]:
        """Direct children whose name matches the shell ``pattern`` (e.g. ``*.faiss``)."""
        return [c for c in self.iterdir() if fnmatch.fnmatchcase(c.name, pattern)]

    def read_bytes(self) -> bytes:
        """The file's bytes (NotFoundError when absent)."""
        try:
            with self._reaching("read"), self.fs.open_input_stream(self.path) as fh:
                return fh.read()
        except FileNotFoundError:
            raise NotFoundError(f"{self.uri} does not exist") from None

    def read_text(self) -> str:
        """The file's text (UTF-8)."""
        return self.read_bytes().decode("utf-8")

    # -- writing --------------------------------------------------------------------------

    def write_bytes(self, data: bytes) -> None:
        """Write the whole file atomically: readers see the old bytes or all of the new ones."""
        if not self.is_local:
            with self._reaching("write"), self.fs.open_output_stream(self.path) as fh:
                fh.write(data)  # one object, visible as a whole when the stream closes
            return
        folder, name = os.path.split(self.path)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def write_text(self, text: str) -> None:
        """Write UTF-8 text atomically."""
        self.write_bytes(text.encode("utf-8"))

    def unlink(self, missing_ok: bool = False) -> None:
        """Delete the file (NotFoundError when absent, unless ``missing_ok``)."""
        try:
            with self._reaching("delete"):
                self.fs.delete_file(self.path)
        except FileNotFoundError:
            if not missing_ok:
                raise NotFoundError(f"{self.uri} does not exist") from None

    def check_bucket(self) -> None:
        """For S3: raise NotFoundError / StoreAccessError unless the bucket is reachable."""
        if self.is_local:
            return
        bucket = self.path.partition("/")[0]
        try:
            info = self.fs.get_file_info(bucket)
        except OSError as exc:
            raise access_error(exc, "reach the bucket of", self.uri) from None
        if info.type == pafs.FileType.NotFound:
            raise NotFoundError(
                f"bucket {bucket!r} does not exist at {endpoint() or 'AWS S3'} (AWS_ENDPOINT_URL); "
                f"create it (aws s3 mb s3://{bucket}) or fix the store URI / AWS_ENDPOINT_URL"
            )
