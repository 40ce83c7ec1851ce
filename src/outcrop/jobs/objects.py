"""Job input and output through the S3 API (boto3), to the configured endpoint or the embedded one.

boto3 calls block, so each runs on a worker thread. S3's own errors are turned into the messages
a job reports (``S3Problem``): a missing bucket or key, or a refused read or write.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

_URI = re.compile(r"s3://(?P<bucket>[a-z0-9][-.a-z0-9]{1,61}[a-z0-9])(?:/(?P<key>.*))?")


class S3Problem(Exception):
    """A read or write the job could not do, in words for its failure message."""


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str  # an object key, or a prefix ("" for the whole bucket)

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        match = _URI.fullmatch(uri)
        if match is None:
            raise ValueError(f"{uri} is not a valid S3 URI")
        return cls(match["bucket"], match["key"] or "")

    def join(self, *parts: str) -> str:
        """A key under this prefix."""
        base = self.key.rstrip("/")
        return "/".join(p for p in (base, *parts) if p)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"


class ObjectStore:
    def __init__(
        self,
        endpoint: str,
        *,
        region: str,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 3}),
        )

    async def get(self, bucket: str, key: str) -> bytes:
        def read() -> bytes:
            return bytes(self._client.get_object(Bucket=bucket, Key=key)["Body"].read())

        return await self._call(read, f"s3://{bucket}/{key}", "read")

    async def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/json") -> None:
        def write() -> None:
            self._client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

        await self._call(write, f"s3://{bucket}/{key}", "write")

    async def keys(self, bucket: str, prefix: str) -> list[str]:
        """Every object key under ``prefix``, in key order."""

        def listing() -> list[str]:
            out: list[str] = []
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                out.extend(str(item["Key"]) for item in page.get("Contents", []))
            return sorted(out)

        return await self._call(listing, f"s3://{bucket}/{prefix}", "list")

    async def exists(self, bucket: str, key: str) -> bool:
        def head() -> bool:
            try:
                self._client.head_object(Bucket=bucket, Key=key)
                return True
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise

        return await self._call(head, f"s3://{bucket}/{key}", "read")

    async def _call(self, work: Any, where: str, verb: str) -> Any:
        try:
            return await asyncio.to_thread(work)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "NoSuchBucket":
                raise S3Problem(f"The S3 bucket in {where} does not exist.") from None
            if code in ("NoSuchKey", "404", "NotFound"):
                raise S3Problem(f"The S3 object {where} does not exist.") from None
            if code in ("AccessDenied", "403", "Forbidden"):
                raise S3Problem(
                    f"Access denied to {verb} {where}: check that the bucket exists and that the "
                    f"credentials may {verb} it."
                ) from None
            raise S3Problem(f"Could not {verb} {where}: {code or exc}") from None
        except BotoCoreError as exc:
            raise S3Problem(f"Could not {verb} {where}: {exc}") from None
