"""The document store of a test: a directory of its own, or a bucket on a real S3-protocol
server (moto's standalone server, started once on a free port)."""

from __future__ import annotations

import io
import socket
import uuid

import pytest

from claims.documents import storage
from claims.settings import Settings
from tests.claims.conftest import claim, county, department, staff  # noqa: F401  (fixtures)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on a free port of this machine, for the whole run."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def s3_store(endpoint: str) -> storage.Store:
    """A fresh bucket on the server, reached as the service reaches it: from its settings."""
    import boto3

    bucket = f"fangpin-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test",
                 aws_secret_access_key="test", region_name="us-east-1").create_bucket(
        Bucket=bucket)
    return storage.build(Settings(
        documents_store="s3", s3_bucket=bucket, s3_endpoint=endpoint, s3_region="us-east-1",
        s3_access_key_id="test", s3_secret_access_key="test", s3_prefix="documents/"))


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """The service's document store for one test: a directory, or an S3 bucket."""
    if request.param == "local":
        made = storage.build(Settings(documents_dir=str(tmp_path / "documents")))
    else:
        made = s3_store(request.getfixturevalue("s3_server"))
    storage.use(made)
    yield made
    storage.use(None)


def keys(store: storage.Store) -> set[str]:
    return {listed.key for listed in store.listing()}


# --- files made by their own libraries ----------------------------------------------------------

def image(format: str, size=(64, 48), color=(200, 30, 30)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format)
    return out.getvalue()


def photo(megabytes: float) -> bytes:
    """A camera-like JPEG of about the given size (noise compresses badly, as a photo does)."""
    import numpy as np
    from PIL import Image

    side = int((megabytes * 1024 * 1024 / 0.9) ** 0.5)
    pixels = np.random.default_rng(7).integers(0, 256, (side // 2, side // 2, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).resize((side, side)).save(out, "JPEG", quality=95)
    return out.getvalue()


def pdf() -> bytes:
    """A one-page PDF written by Pillow."""
    return image("PDF")


def xlsx() -> bytes:
    from openpyxl import Workbook

    out = io.BytesIO()
    book = Workbook()
    book.active["A1"] = "发票"
    book.save(out)
    return out.getvalue()
