"""Where images live: an S3 bucket or a local folder, with the same key layout in both.

Each image is three objects under one folder-like key:
    {prefix}users/{user-slug}/{inverted-time}-{image-id}/original.{ext}
                                                        /thumb.webp
                                                        /record.json
An edit's inputs (input-{i}.{ext}, mask.png or markup.png) are kept once, beside the first image it made.
The inverted time makes a plain listing newest first; the user slug keeps users apart and is derived
(never copied) from the user's name, so no input can steer a key.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import unicodedata
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Protocol

from imagegen.errors import InvalidRequest, NotFound, StorageError
from imagegen.files import sync_dir, write_synced
from imagegen.redact import register_secret
from imagegen.settings import Settings

IMMUTABLE = "private, max-age=31536000, immutable"
NO_CACHE = "no-cache"
PRESIGN_SECONDS = 900
_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_KEY_REST = re.compile(
    r"^[a-z0-9-]{1,60}/[0-9]{13}-[a-z0-9_-]{1,80}/"
    r"(original\.(png|jpeg|webp|gif|svg)|provider-original\.svg\.txt|thumb\.webp|record\.json"
    r"|input-[0-9]{1,2}\.(png|jpeg|webp)|mask\.png|markup\.png)$"
)
INVERT_FROM = 10**13


class ObjectStore(Protocol):
    name: str

    def put(self, key: str, data: bytes, content_type: str, cache_control: str) -> None: ...
    def put_file(self, key: str, path: Path, content_type: str, cache_control: str) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, keys: list[str]) -> None: ...
    def list_keys(self, prefix: str) -> Iterator[str]: ...
    def url(self, key: str, expires: int = PRESIGN_SECONDS) -> str | None: ...


def user_slug(user: str) -> str:
    """A key-safe, collision-free name for a user: readable ASCII plus a hash of the exact name."""
    folded = unicodedata.normalize("NFKD", user).encode("ascii", "ignore").decode().lower()
    readable = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:40].strip("-") or "user"
    return f"{readable}-{hashlib.sha256(user.encode()).hexdigest()[:12]}"


def image_folder(prefix: str, user: str, created_at: datetime, image_id: str) -> str:
    if not _ID.match(image_id):
        raise InvalidRequest(f"Image id {image_id!r} may hold only letters, digits, '-' and '_'.")
    inverted = INVERT_FROM - int(created_at.timestamp() * 1000)
    return f"{prefix}users/{user_slug(user)}/{inverted:013d}-{image_id.lower()}/"


def check_key(key: str, prefix: str) -> str:
    """Refuse a key that did not come from this layout (a page parameter, say)."""
    root = prefix + "users/"
    if not key.startswith(root) or not _KEY_REST.match(key[len(root) :]):
        raise NotFound(f"No image at {key!r}.")
    return key


class LocalStore:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise NotFound(f"No image at {key!r}.")
        return path

    def put(self, key: str, data: bytes, content_type: str, cache_control: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            staging = path.with_name(f".tmp-{path.name}-{os.getpid()}-{threading.get_ident()}")
            write_synced(staging, data)
            os.replace(staging, path)
        except OSError as exc:
            raise StorageError(f"Could not write {key} to {self.root} ({exc}).") from exc

    def put_file(self, key: str, path: Path, content_type: str, cache_control: str) -> None:
        """Keep a file that is already durable (a spool entry): linked, not copied, when it can be."""
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = target.with_name(f".tmp-{target.name}-{os.getpid()}-{threading.get_ident()}")
            staging.unlink(missing_ok=True)
            try:
                os.link(path, staging)
            except OSError:  # another filesystem: copy instead
                self.put(key, Path(path).read_bytes(), content_type, cache_control)
                return
            os.replace(staging, target)
            sync_dir(target.parent)
        except OSError as exc:
            raise StorageError(f"Could not write {key} to {self.root} ({exc}).") from exc

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"No image at {key!r}.") from None
        except OSError as exc:
            raise StorageError(f"Could not read {key} ({exc}).") from exc

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            folder = path.parent
            while folder != self.root.resolve() and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
                folder = folder.parent

    def list_keys(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.exists():
            return
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                yield path.relative_to(self.root).as_posix()

    def url(self, key: str, expires: int = PRESIGN_SECONDS) -> str | None:
        return None


class S3Store:
    name = "s3"

    def __init__(self, bucket: str, *, endpoint_url: str = "", client: object | None = None) -> None:
        import boto3
        from botocore.config import Config

        register_secret(os.environ.get("AWS_SECRET_ACCESS_KEY", ""))  # boto3 reads it; no message shows it
        self.bucket = bucket

        def s3(attempts: int) -> object:
            return boto3.client(
                "s3",
                endpoint_url=endpoint_url or None,
                config=Config(
                    # Short: a page or a generation waits on these, and a hung store must not hold either long.
                    connect_timeout=2,
                    read_timeout=5,
                    retries={"total_max_attempts": attempts, "mode": "standard"},
                    signature_version="s3v4",
                ),
            )

        self.client = client or s3(2)
        # Uploads are tried once: the image is kept in the spool and shown whatever happens, the user is told
        # at the first failure, and the sweep tries again within a minute.
        self.upload_client = client or s3(1)

    def put(self, key: str, data: bytes, content_type: str, cache_control: str) -> None:
        try:
            self.upload_client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, CacheControl=cache_control
            )
        except Exception as exc:  # botocore raises many kinds; all mean "not stored"
            raise StorageError(f"Could not upload {key} to s3://{self.bucket} ({exc}).") from exc

    def put_file(self, key: str, path: Path, content_type: str, cache_control: str) -> None:
        self.put(key, Path(path).read_bytes(), content_type, cache_control)

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise NotFound(f"No image at {key!r}.") from None
        except Exception as exc:
            raise StorageError(f"Could not read {key} from s3://{self.bucket} ({exc}).") from exc

    def delete(self, keys: list[str]) -> None:
        try:
            self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
            )
        except Exception as exc:
            raise StorageError(f"Could not delete from s3://{self.bucket} ({exc}).") from exc

    def list_keys(self, prefix: str) -> Iterator[str]:
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"]
        except Exception as exc:
            raise StorageError(f"Could not list s3://{self.bucket}/{prefix} ({exc}).") from exc

    def url(self, key: str, expires: int = PRESIGN_SECONDS) -> str | None:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires
        )


def make_object_store(settings: Settings) -> ObjectStore:
    if settings.storage == "s3":
        return S3Store(settings.s3_bucket, endpoint_url=settings.s3_endpoint_url)
    return LocalStore(settings.local_store_dir)
