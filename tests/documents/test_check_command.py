"""``fangpin documents check`` from the command line, on a database and a store of its own
(SQLite and PostgreSQL; a directory and an S3 bucket on moto's server): a sound store says
so and exits 0; a row without its file is reported and exits 1; an old file without a row
is removed with --remove-orphans."""

from __future__ import annotations

import os

import pytest
from sqlmodel import Session

from claims.auth import Actor
from claims.db import make_engine
from claims.documents import service, storage
from claims.migrate import upgrade
from claims.settings import Settings
from tests import cli
from tests.claims.test_access import _world
from tests.conftest import database_url
from tests.documents.conftest import image, keys, pdf


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path_factory):
    for url in database_url(request.param, tmp_path_factory, "documents"):
        upgrade(url)
        yield url


@pytest.fixture(params=["local", "s3"])
def store_env(request, tmp_path):
    """The store's settings as environment variables, and the store itself."""
    if request.param == "local":
        env = {"FANGPIN_DOCUMENTS_STORE": "local",
               "FANGPIN_DOCUMENTS_DIR": str(tmp_path / "documents")}
    else:
        import boto3

        endpoint = request.getfixturevalue("s3_server")
        bucket = f"check-{os.urandom(5).hex()}"
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test",
                     aws_secret_access_key="test", region_name="us-east-1").create_bucket(
            Bucket=bucket)
        env = {"FANGPIN_DOCUMENTS_STORE": "s3", "FANGPIN_S3_BUCKET": bucket,
               "FANGPIN_S3_ENDPOINT": endpoint, "FANGPIN_S3_ACCESS_KEY_ID": "test",
               "FANGPIN_S3_SECRET_ACCESS_KEY": "test"}
    settings = Settings(**{k.removeprefix("FANGPIN_").lower(): v for k, v in env.items()})
    return env, storage.build(settings)


def fangpin(url: str, env: dict, *args: str):
    return cli.fangpin(url, *args, env=env)


def test_documents_check_from_the_command_line(fresh_url, store_env):
    env, store = store_env
    engine = make_engine(fresh_url)
    storage.use(store)
    try:
        with Session(engine) as session:
            world = _world(session)  # two claims, a photo on each
            investigator = Actor("user", None, "inv", role="investigator")
            extra, = service.add_to_claim(session, investigator, world["claim_id_A"],
                                          [service.Upload("发票.pdf", pdf())])
            session.commit()
            extra_id, extra_key = extra.id, extra.storage_key
    finally:
        storage.use(None)
        engine.dispose()
    sound = fangpin(fresh_url, env, "documents", "check")
    assert sound.returncode == 0, sound.stderr
    assert "3 document rows, 3 files" in sound.stdout and "sound: every row" in sound.stdout

    store.delete(extra_key)
    store.put("2019/05/never-committed", image("PNG"))
    broken = fangpin(fresh_url, env, "documents", "check")
    assert broken.returncode == 1
    assert f"MISSING  document {extra_id}: no file {extra_key}" in broken.stdout
    assert "ORPHAN   2019/05/never-committed" in broken.stdout
    cleaned = fangpin(fresh_url, env, "documents", "check", "--remove-orphans",
                      "--older-than-minutes", "0")
    assert "REMOVED  2019/05/never-committed" in cleaned.stdout
    assert "2019/05/never-committed" not in keys(store)
