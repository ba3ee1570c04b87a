"""Documents: (1) a 10 MB photo uploaded to a claim and the claim's list read back, through
the whole application (multipart parsing, content check, SHA-256, the store, the row, the
audit trail), against the floor of a plain copy of the same bytes to a file with its SHA-256;
(2) the claim page with 30 documents against the same page of a claim without any (the
issue-5 budget: p95 < 150 ms); (3) ``fangpin documents check`` over a store of 100,000 files
and their rows, against the floor of a plain listing of the same directory (os.scandir with
each file's size).

    python scripts/bench_documents.py [--uploads 5] [--files 100000] [--megabytes 10]
                                      [--url sqlite:///…] [--store local|s3]

Without --url a fresh SQLite database in a temporary directory is used; --store s3 runs
against moto's S3 server started on a free port (the check's files then go through the S3
protocol too: use fewer --files, moto is not built for speed). Targets: an upload and its list
within 1 s; the claim page's p95 under 150 ms; the check within 60 s.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
UPLOAD_BUDGET_S, CHECK_BUDGET_S, PAGE_BUDGET_MS = 1.0, 60.0, 150.0


def photo(megabytes: float) -> bytes:
    """A camera-like JPEG of about that size (noise compresses as badly as a photo)."""
    import io

    import numpy as np
    from PIL import Image

    side = int((megabytes * 1024 * 1024 / 0.9) ** 0.5)
    pixels = np.random.default_rng(7).integers(0, 256, (side // 2, side // 2, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).resize((side, side)).save(out, "JPEG", quality=95)
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_environment() -> dict[str, str]:
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False).start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench",
                 aws_secret_access_key="bench", region_name="us-east-1").create_bucket(
        Bucket="bench")
    return {"FANGPIN_DOCUMENTS_STORE": "s3", "FANGPIN_S3_BUCKET": "bench",
            "FANGPIN_S3_ENDPOINT": endpoint, "FANGPIN_S3_ACCESS_KEY_ID": "bench",
            "FANGPIN_S3_SECRET_ACCESS_KEY": "bench"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=5)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--megabytes", type=float, default=10.0)
    parser.add_argument("--url", default="")
    parser.add_argument("--store", choices=["local", "s3"], default="local")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-documents-"))
    url = args.url or f"sqlite:///{work}/fangpin.db"
    env = {"FANGPIN_DATABASE_URL": url, "FANGPIN_EVALUATE_EVENTS": "separately",
           "FANGPIN_LOG_LEVEL": "WARNING", "FANGPIN_DOCUMENTS_DIR": str(work / "documents"),
           "FANGPIN_DOCUMENTS_MAX_BYTES": str(int(args.megabytes * 2 * 1024 * 1024))}
    if args.store == "s3":
        env.update(s3_environment())
    os.environ.update(env)

    from fastapi.testclient import TestClient
    from sqlmodel import Session

    from claims import intake, migrate
    from claims.app import create_app
    from claims.auth import SYSTEM
    from claims.db import get_engine
    from claims.documents import storage
    from claims.documents.models import Document
    from claims.people import create_user
    from claims.web import session as web_session
    from tests.claims.conftest import build_county

    migrate.upgrade(url)
    engine = get_engine()
    with Session(engine) as session:
        county = build_county(session)
        claim = intake.apply(session, SYSTEM, county.household.id, "disaster", "房屋受损")
        bare = intake.apply(session, SYSTEM, county.household.id, "accident", "摔伤")
        user, token = create_user(session, SYSTEM, username="bench", full_name="bench",
                                  role="investigator")
        web_session.set_password(session, SYSTEM, user, "bench-password-1")
        cookie, _ = web_session.sign_in(session, "bench", "bench-password-1")
        session.commit()
        claim_id, bare_id = claim.id, bare.id
    store = storage.current()
    print(f"store: {store.where}; database: {url.split('?')[0]}")

    # --- (1) a 10 MB photo ----------------------------------------------------------------
    data = photo(args.megabytes)
    print(f"photo: {len(data) / 1024 / 1024:.1f} MB JPEG")
    floors, uploads, lists = [], [], []
    for n in range(args.uploads):
        started = time.perf_counter()
        target = work / f"copy-{n}.jpg"
        with open(target, "wb") as out:
            out.write(data)
            out.flush()
        hashlib.sha256(data).hexdigest()
        floors.append(time.perf_counter() - started)
        target.unlink()
    with TestClient(create_app(), headers={"Authorization": f"Bearer {token}"}) as client:
        for n in range(args.uploads):
            started = time.perf_counter()
            answer = client.post(f"/api/claims/{claim_id}/documents",
                                 files=[("files", (f"photo-{n}.jpg", data))])
            assert answer.status_code == 201, answer.text
            uploaded = time.perf_counter()
            listed = client.get(f"/api/claims/{claim_id}/documents").json()
            assert listed["count"] == n + 1
            uploads.append(uploaded - started)
            lists.append(time.perf_counter() - started)
    floor = statistics.median(floors)
    print(f"plain copy + SHA-256 (floor)   n={args.uploads:>3}  median {floor * 1000:7.1f} ms")
    print(f"upload                         n={args.uploads:>3}  median "
          f"{statistics.median(uploads) * 1000:7.1f} ms  max {max(uploads) * 1000:7.1f} ms  "
          f"median/floor {statistics.median(uploads) / floor:5.1f}x")
    print(f"upload + list                  n={args.uploads:>3}  median "
          f"{statistics.median(lists) * 1000:7.1f} ms  max {max(lists) * 1000:7.1f} ms")
    upload_ok = max(lists) < UPLOAD_BUDGET_S
    print(f"slowest upload + list {max(lists) * 1000:.0f} ms: "
          f"{'within' if upload_ok else 'OVER'} the {UPLOAD_BUDGET_S:.0f} s budget")

    # --- (2) the claim page with 30 documents ---------------------------------------------
    import io

    from PIL import Image

    with TestClient(create_app(), headers={"Authorization": f"Bearer {token}"},
                    cookies={web_session.COOKIE: cookie}) as client:
        for n in range(30 - args.uploads):
            small = io.BytesIO()
            Image.new("RGB", (800, 600), (n * 8 % 255, 90, 40)).save(small, "JPEG")
            client.post(f"/api/claims/{claim_id}/documents", data={"doc_type": "damage_photos"},
                        files=[("files", (f"small-{n}.jpg", small.getvalue()))])
        times: dict[int, list[float]] = {claim_id: [], bare_id: []}
        for _ in range(40):
            for which in (claim_id, bare_id):
                started = time.perf_counter()
                page = client.get(f"/claims/{which}")
                times[which].append(time.perf_counter() - started)
                assert page.status_code == 200
        assert page.text.count("/thumbnail") == 0 and client.get(
            f"/claims/{claim_id}").text.count("/thumbnail") == 30
    with_docs, without = (sorted(t) for t in (times[claim_id], times[bare_id]))
    p95 = with_docs[round(0.95 * (len(with_docs) - 1))] * 1000
    floor_p95 = without[round(0.95 * (len(without) - 1))] * 1000
    print(f"\nclaim page, no documents (floor)  n=40  median "
          f"{statistics.median(without) * 1000:6.1f} ms  p95 {floor_p95:6.1f} ms")
    print(f"claim page, 30 documents          n=40  median "
          f"{statistics.median(with_docs) * 1000:6.1f} ms  p95 {p95:6.1f} ms")
    page_ok = p95 < PAGE_BUDGET_MS
    print(f"claim page p95 {p95:.0f} ms: {'within' if page_ok else 'OVER'} the "
          f"{PAGE_BUDGET_MS:.0f} ms budget")

    # --- (3) the check over many files ----------------------------------------------------
    started = time.perf_counter()
    rows = []
    small = b"%PDF-1.4 bench\n"
    for n in range(args.files):
        key = f"2026/{n % 12 + 1:02}/{uuid.uuid4().hex}"
        store.put(key, small)
        rows.append({"claim_id": claim_id, "filename": f"f{n}.pdf",
                     "content_type": "application/pdf", "kind": "pdf", "size": len(small),
                     "sha256": hashlib.sha256(small).hexdigest(), "storage_key": key,
                     "added_by": "user:bench", "withdrawn_reason": ""})
    now = datetime.now(UTC)
    with Session(engine) as session:
        for start in range(0, len(rows), 10_000):
            session.execute(Document.__table__.insert(), [
                {**row, "added_at": now} for row in rows[start:start + 10_000]])
        session.commit()
    print(f"\nstore filled with {args.files:,} files and rows in "
          f"{time.perf_counter() - started:.1f} s")
    if args.store == "local":
        started = time.perf_counter()
        listed = size = 0
        stack = [Path(store.where)]
        while stack:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    else:
                        size += entry.stat().st_size
                        listed += 1
        floor = time.perf_counter() - started
        print(f"plain directory listing with sizes (floor): {listed:,} files in {floor:.2f} s")
    else:
        floor = None
    started = time.perf_counter()
    checked = subprocess.run([sys.executable, "-m", "claims.cli", "documents", "check"],
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                             text=True, cwd=ROOT)
    took = time.perf_counter() - started
    print("fangpin documents check:", " | ".join(checked.stdout.strip().splitlines()[-3:]))
    inside = float(checked.stdout.strip().splitlines()[-1].split()[2])
    print(f"fangpin documents check over {args.files + 30:,} files: {took:.2f} s "
          f"with the command's start, {inside:.2f} s its check"
          + (f" ({inside / floor:.1f}x the plain listing)" if floor else "")
          + f", exit {checked.returncode}")
    check_ok = took < CHECK_BUDGET_S and checked.returncode == 0
    print(f"check: {'within' if check_ok else 'OVER'} the {CHECK_BUDGET_S:.0f} s budget")
    engine.dispose()
    shutil.rmtree(work, ignore_errors=True)
    return 0 if upload_ok and page_ok and check_ok else 1


if __name__ == "__main__":
    sys.exit(main())
