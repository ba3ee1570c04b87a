"""Documents on claims and events, on SQLite and PostgreSQL, in a directory and in an S3
bucket (moto's server): uploaded several at once, recognised by their content, listed,
viewed and downloaded with each view on the audit trail, withdrawn but never overwritten,
seen only in the user's area; a file whose row did not commit is removed, and the check
finds rows without a file and files without a row."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from claims.auth import SYSTEM
from claims.documents import service, sniff
from claims.documents.models import Document
from claims.models import AuditEntry
from claims.settings import get_settings
from policies.errors import NotFound
from tests.claims.conftest import DEPARTMENT_KEY
from tests.claims.test_web import browser, csrf_of  # noqa: F401  (the fixture)
from tests.documents.conftest import image, keys, pdf, xlsx

# --- what a file is, by its content -------------------------------------------------------------

PIL_FORMATS = {"JPEG": sniff.JPEG, "PNG": sniff.PNG, "GIF": sniff.GIF, "WEBP": sniff.WEBP,
               "TIFF": sniff.TIFF, "BMP": sniff.BMP, "PDF": sniff.PDF}


@pytest.mark.parametrize("format", sorted(PIL_FORMATS))
def test_files_written_by_their_own_library_are_recognised_by_content(format):
    assert sniff.sniff(image(format)) == PIL_FORMATS[format]


def test_office_files_and_what_only_looks_like_them():
    assert sniff.sniff(xlsx()) == sniff.XLSX
    docx = io.BytesIO()
    with zipfile.ZipFile(docx, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    assert sniff.sniff(docx.getvalue()) == sniff.DOCX
    odt = io.BytesIO()
    with zipfile.ZipFile(odt, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
    assert sniff.sniff(odt.getvalue()) == sniff.ODT
    assert sniff.sniff(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)) == sniff.OLE
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("run.exe", b"MZ")
    for refused in (plain_zip.getvalue(), b"MZ\x90\x00", b"<html><script>", b"<svg/>",
                    b"\x7fELF", b"plain text", b"PK\x03\x04broken"):
        assert sniff.sniff(refused) is None, refused[:8]


def test_a_zip_the_reader_cannot_open_is_refused_not_a_server_error():
    """An ODT-style zip whose mimetype entry is compressed by an unknown method had been a
    500 (NotImplementedError; a re-tester's, encrypted and broken deflate data alike)."""
    odt = io.BytesIO()
    with zipfile.ZipFile(odt, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
    data = bytearray(odt.getvalue())
    for header, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):  # method: 99
        at = data.index(header)
        data[at + offset:at + offset + 2] = (99).to_bytes(2, "little")
    assert sniff.sniff(bytes(data)) is None
    flagged = bytearray(odt.getvalue())  # marked encrypted
    for header, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = flagged.index(header)
        flagged[at + offset] |= 1
    assert sniff.sniff(bytes(flagged)) is None


def test_a_zip_bomb_is_refused_without_being_inflated():
    """The mimetype entry was read whole: 1 MB that inflated to 1 GiB held 2.4 GB and stalled
    the service (a tester's). 50 MB of one letter, 50 KB zipped, is refused reading 101
    bytes of it."""
    import tracemalloc

    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", b"a" * 50_000_000)
    tracemalloc.start()
    try:
        assert sniff.sniff(bomb.getvalue()) is None
        assert tracemalloc.get_traced_memory()[1] < 20_000_000
    finally:
        tracemalloc.stop()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_are_answered_and_agree_with_pillow_on_images(data):
    """A second opinion: whatever Pillow opens as an image of an accepted format, sniff
    calls that format; and sniff never fails on arbitrary bytes."""
    from PIL import Image, UnidentifiedImageError

    found = sniff.sniff(data)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            pillow = opened.format
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        pillow = None
    if pillow in ("JPEG", "PNG", "GIF", "WEBP", "TIFF"):
        assert found == PIL_FORMATS[pillow]


# --- uploads over the API ------------------------------------------------------------------------

def files(*named: tuple[str, bytes]):
    return [("files", (name, data)) for name, data in named]


def trail(session, action: str) -> list[AuditEntry]:
    return list(session.exec(select(AuditEntry).where(
        AuditEntry.entity == "document", AuditEntry.action == action)
        .order_by(AuditEntry.id)).all())


def test_an_investigator_uploads_lists_downloads_and_withdraws(store, session, claim, staff):
    photo, invoice = image("JPEG"), pdf()
    investigator = staff["investigator"]
    added = investigator.post(f"/api/claims/{claim.id}/documents",
                              files=files(("房屋.jpg", photo), ("发票.pdf", invoice)))
    assert added.status_code == 201, added.text
    listed = investigator.get(f"/api/claims/{claim.id}/documents").json()["data"]
    assert [(d["filename"], d["content_type"], d["size"], d["sha256"]) for d in listed] == [
        ("房屋.jpg", "image/jpeg", len(photo), hashlib.sha256(photo).hexdigest()),
        ("发票.pdf", "application/pdf", len(invoice), hashlib.sha256(invoice).hexdigest())]
    assert all(d["added_by"] == "user:inv" for d in listed)
    assert len(keys(store)) == 2
    # each file's SHA-256, who and when, on the audit trail
    assert [(e.actor, e.after["sha256"], e.after["claim"]) for e in trail(session, "add")] == [
        ("user:inv", d["sha256"], claim.claim_number) for d in listed]

    reader = staff["clerk"]
    got = reader.get(f"/api/documents/{listed[0]['id']}/content")
    assert got.status_code == 200 and got.content == photo
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E6%88%BF%E5%B1%8B.jpg" in got.headers["content-disposition"]
    downloads = trail(session, "download")
    assert [(e.actor, e.entity_id, e.after["household"]) for e in downloads] == [
        ("user:clerk", str(listed[0]["id"]), "H0001")]

    # withdrawn with a reason, never removed or overwritten
    assert investigator.post(f"/api/documents/{listed[0]['id']}/withdraw",
                             json={"reason": "  "}).json()["field"] == "reason"
    done = investigator.post(f"/api/documents/{listed[0]['id']}/withdraw",
                             json={"reason": "拍错了户"})
    assert done.status_code == 200 and done.json()["withdrawn"] is True
    again = investigator.post(f"/api/documents/{listed[0]['id']}/withdraw",
                              json={"reason": "再撤"})
    assert again.status_code == 422
    assert reader.get(f"/api/documents/{listed[0]['id']}/content").content == photo
    # the same photo again is a new document beside the first
    investigator.post(f"/api/claims/{claim.id}/documents", files=files(("房屋.jpg", photo)))
    after = investigator.get(f"/api/claims/{claim.id}/documents").json()["data"]
    assert [(d["filename"], d["withdrawn"], d["withdrawn_reason"]) for d in after] == [
        ("房屋.jpg", True, "拍错了户"), ("发票.pdf", False, ""), ("房屋.jpg", False, "")]
    assert len(keys(store)) == 3
    withdrawal = trail(session, "withdraw")[0]
    assert (withdrawal.actor, withdrawal.reason) == ("user:inv", "拍错了户")


def test_a_file_of_another_kind_is_refused_naming_it_and_nothing_is_kept(
        store, session, claim, staff, as_user):
    investigator = staff["investigator"]
    refused = investigator.post(f"/api/claims/{claim.id}/documents", files=files(
        ("好的.png", image("PNG")), ("照片.jpg", b"<html><script>alert(1)</script></html>")))
    assert refused.status_code == 422
    body = refused.json()
    assert body["field"] == "files" and body["value"] == "照片.jpg"
    assert "照片.jpg: not an accepted kind of file" in body["message"]
    assert keys(store) == set() and session.exec(select(Document)).all() == []
    # a clerk adds too; an auditor reads but does not add
    assert staff["clerk"].post(f"/api/claims/{claim.id}/documents",
                               files=files(("a.png", image("PNG")))).status_code == 201
    auditor = as_user("auditor")
    assert auditor.post(f"/api/claims/{claim.id}/documents",
                        files=files(("a.png", image("PNG")))).status_code == 403
    assert auditor.get(f"/api/claims/{claim.id}/documents").json()["count"] == 1


def test_the_size_and_count_limits_come_from_the_settings(store, session, claim, staff,
                                                           monkeypatch):
    monkeypatch.setenv("FANGPIN_DOCUMENTS_MAX_BYTES", "2048")
    monkeypatch.setenv("FANGPIN_DOCUMENTS_MAX_FILES", "2")
    get_settings.cache_clear()
    try:
        investigator = staff["investigator"]
        big = image("BMP", size=(40, 40))  # 4,854 bytes, uncompressed
        answer = investigator.post(f"/api/claims/{claim.id}/documents",
                                   files=files(("大.bmp", big)))
        assert answer.status_code == 422
        assert answer.json()["message"] == (
            f"大.bmp: {len(big):,} bytes is over the limit of 2,048 bytes per file "
            "(FANGPIN_DOCUMENTS_MAX_BYTES)")
        three = files(*[(f"{n}.png", image("PNG")) for n in range(3)])
        assert "over the limit of 2" in investigator.post(
            f"/api/claims/{claim.id}/documents", files=three).json()["message"]
        assert keys(store) == set()
    finally:
        get_settings.cache_clear()


def test_a_department_attaches_documents_to_its_event_and_staff_find_them_on_the_claim(
        store, app, session, claim, staff):
    from claims.people import create_client

    department = TestClient(app, headers={"Authorization": f"Bearer {DEPARTMENT_KEY}"})
    report = pdf()
    sent = department.post("/api/events/HIS-1/documents", files=files(("出院小结.pdf", report)))
    assert sent.status_code == 201, sent.text
    assert department.get("/api/events/HIS-1/documents").json()["count"] == 1
    assert department.post("/api/events/NOPE/documents",
                           files=files(("a.pdf", report))).status_code == 404
    # another department sees nothing of it
    _, key = create_client(session, SYSTEM, "民政局", "civil_affairs")
    session.commit()
    other = TestClient(app, headers={"Authorization": f"Bearer {key}"})
    document_id = sent.json()["data"][0]["id"]
    assert other.get("/api/events/HIS-1/documents").status_code == 404
    # the staff's download is no department's (403, as every staff route for a key)
    assert other.get(f"/api/documents/{document_id}/content").status_code == 403
    # staff find it on the claim the event opened; a department may not add to a claim
    on_claim = staff["adjudicator"].get(f"/api/claims/{claim.id}/documents").json()["data"]
    assert [(d["filename"], d["added_by"]) for d in on_claim] == [("出院小结.pdf",
                                                                   "client:医保局")]
    assert staff["adjudicator"].get(f"/api/documents/{document_id}/content").content == report
    assert department.post(f"/api/claims/{claim.id}/documents",
                           files=files(("a.pdf", report))).status_code == 403


def test_a_township_limited_user_sees_only_the_documents_of_its_area(
        store, session, claim, staff, as_user, county):
    added = staff["investigator"].post(f"/api/claims/{claim.id}/documents",
                                       files=files(("a.png", image("PNG")))).json()["data"][0]
    township = county.ids["township"]
    mine, elsewhere = as_user("clerk", "clerk-here"), as_user("clerk", "clerk-elsewhere")
    mine.user.townships, elsewhere.user.townships = [township], [township + 10_000]
    session.commit()
    assert mine.get(f"/api/documents/{added['id']}/content").status_code == 200
    assert mine.get(f"/api/claims/{claim.id}/documents").json()["count"] == 1
    for path in (f"/api/documents/{added['id']}/content", f"/api/claims/{claim.id}/documents"):
        answer = elsewhere.get(path)
        assert answer.status_code == 404 and "not in your area" in answer.json()["message"]
    assert elsewhere.post(f"/api/documents/{added['id']}/withdraw",
                          json={"reason": "x"}).status_code == 404


# --- the store and the table ---------------------------------------------------------------------

def test_a_file_whose_row_does_not_commit_is_removed(store, session, claim):
    from claims.auth import Actor

    investigator = Actor("user", None, "inv", role="investigator")
    service.add_to_claim(session, investigator, claim.id, [
        service.Upload("a.png", image("PNG")), service.Upload("b.pdf", pdf())])
    assert len(keys(store)) == 2  # stored before the row is committed
    session.rollback()
    assert keys(store) == set()
    service.add_to_claim(session, investigator, claim.id, [service.Upload("c.png",
                                                                          image("PNG"))])
    session.commit()
    assert len(keys(store)) == 1


def test_the_check_reports_rows_without_a_file_and_removes_files_without_a_row(
        store, session, claim):
    from claims.auth import Actor

    investigator = Actor("user", None, "inv", role="investigator")
    kept, lost = service.add_to_claim(session, investigator, claim.id, [
        service.Upload("kept.png", image("PNG")), service.Upload("lost.pdf", pdf())])
    session.commit()
    store.delete(lost.storage_key)
    store.put("2020/01/left-behind", b"an upload that never committed")
    report = service.check(session, store)
    assert (report.rows, report.files, report.sound) == (2, 2, False)
    assert report.missing == [(lost.id, lost.storage_key)]
    assert report.orphans == ["2020/01/left-behind"] and report.removed == []
    lines = list(service.summary(report))
    assert f"MISSING  document {lost.id}: no file {lost.storage_key}" in lines
    # young orphans are left alone (an upload may be under way); old ones go
    assert service.check(session, store, remove_orphans=True).removed == []
    cleaned = service.check(session, store, remove_orphans=True, older_than=timedelta(0))
    assert cleaned.removed == ["2020/01/left-behind"]
    assert keys(store) == {kept.storage_key}
    # the missing file's row answers 404 with what to do, not a server error
    with pytest.raises(NotFound) as missing:
        service.open_file(session, investigator, lost.id, "download")
    assert "fangpin documents check" in missing.value.message


def test_the_store_never_overwrites_a_file(store):
    store.put("2026/01/x", b"first")
    with pytest.raises(Exception) as refused:
        store.put("2026/01/x", b"second")
    assert "nothing was overwritten" in str(refused.value)
    assert store.get("2026/01/x") == b"first"


# --- the pages ----------------------------------------------------------------------------------

def test_the_claim_page_uploads_shows_thumbnails_and_audits_each_view(
        store, session, claim, browser):  # noqa: F811
    from PIL import Image

    investigator = browser("investigator", language="en")
    page = investigator.get(f"/claims/{claim.id}")
    assert 'capture="environment"' in page.text and "No documents yet." in page.text
    token = csrf_of(page.text)
    photo = image("JPEG", size=(1600, 1200))
    added = investigator.post(f"/claims/{claim.id}/documents", data={"csrf_token": token},
                              files=files(("门前.jpg", photo), ("发票.pdf", pdf())),
                              follow_redirects=False)
    assert added.status_code == 303, added.text
    shown = investigator.get(added.headers["location"]).text
    assert "2 documents added." in shown and "门前.jpg" in shown
    assert hashlib.sha256(photo).hexdigest() in shown
    ids = [d.id for d in session.exec(select(Document).order_by(Document.id))]
    thumb = investigator.get(f"/documents/{ids[0]}/thumbnail")
    with Image.open(io.BytesIO(thumb.content)) as small:
        assert small.format == "JPEG" and max(small.size) == 240
    viewed = investigator.get(f"/documents/{ids[1]}")
    assert viewed.headers["content-type"] == "application/pdf"
    assert viewed.headers["content-disposition"].startswith("inline;")
    # the document's own policy, not the pages' one added beside it
    assert viewed.headers.get_list("content-security-policy") == [
        "default-src 'none'; img-src 'self' data:; object-src 'self'; "
        "style-src 'unsafe-inline'; frame-ancestors 'self'"]
    assert viewed.headers["x-content-type-options"] == "nosniff"
    assert investigator.get(f"/documents/{ids[0]}/download").content == photo
    assert [e.action for e in session.exec(select(AuditEntry).where(
        AuditEntry.entity == "document").order_by(AuditEntry.id))] == [
        "add", "add", "thumbnail", "view", "download"]
    # an auditor sees the list but no upload form
    auditor = browser("auditor", language="en")
    assert "Add documents" not in auditor.get(f"/claims/{claim.id}").text
    # a refused file is named, in Chinese on a Chinese page
    chinese = browser("investigator", language="zh")
    refused = chinese.post(f"/claims/{claim.id}/documents",
                           data={"csrf_token": csrf_of(chinese.get(f"/claims/{claim.id}").text)},
                           files=files(("病历.exe", b"MZ\x90\x00")))
    assert refused.status_code == 422 and "病历.exe" in refused.text
    assert "不是可接受的文件类型" in refused.text
    withdrawn = investigator.post(f"/documents/{ids[0]}/withdraw",
                                  data={"csrf_token": token, "reason": "照错了"},
                                  follow_redirects=False)
    assert withdrawn.headers["location"] == f"/claims/{claim.id}#documents"
    assert "Withdrawn by investigator者" in investigator.get(f"/claims/{claim.id}").text


def test_documents_of_a_claim_with_many_files_keep_their_order(store, session, claim, staff):
    """Forty files in two uploads list in the order added, each once (a brute count)."""
    investigator = staff["investigator"]
    names = [f"p{n:02}.png" for n in range(40)]
    for chunk in (names[:20], names[20:]):
        assert investigator.post(f"/api/claims/{claim.id}/documents", files=files(
            *[(n, image("PNG", color=(n.__hash__() % 255, 0, 0))) for n in chunk])
        ).status_code == 201
    listed = investigator.get(f"/api/claims/{claim.id}/documents").json()["data"]
    assert [d["filename"] for d in listed] == names
    assert len(keys(store)) == 40 == len(session.exec(select(Document)).all())


def test_the_s3_store_needs_its_bucket():
    from pydantic import ValidationError

    from claims.settings import Settings

    with pytest.raises(ValidationError, match="FANGPIN_DOCUMENTS_STORE=s3 needs FANGPIN_S3_BUCKET"):
        Settings(documents_store="s3")


def test_a_page_that_mentions_pdf_is_no_pdf_and_a_download_ends_as_its_content(
        store, claim, staff):
    """A hostile tester's 发票.html held "%PDF-1.4" in a comment: it was stored as a PDF and
    offered for download as 发票.html, a page that opens with its scripts."""
    page = b"<!DOCTYPE html><!-- %PDF-1.4 --><html><script>alert(1)</script></html>"
    assert sniff.sniff(page) is None
    assert sniff.sniff(b"\x00\x00%PDF-1.7\n") == sniff.PDF  # a little junk before the header
    investigator = staff["investigator"]
    refused = investigator.post(f"/api/claims/{claim.id}/documents",
                                files=files(("发票.html", page)))
    assert refused.status_code == 422
    added = investigator.post(f"/api/claims/{claim.id}/documents",
                              files=files(("发票.html", pdf()), ("扫描件", image("JPEG"))))
    assert added.status_code == 201
    names = [staff["clerk"].get(f"/api/documents/{d['id']}/content").headers[
        "content-disposition"].split("filename*=UTF-8''")[1] for d in added.json()["data"]]
    assert names == ["%E5%8F%91%E7%A5%A8.pdf", "%E6%89%AB%E6%8F%8F%E4%BB%B6.jpg"]


def test_an_image_too_large_to_decode_gets_no_thumbnail():
    """A 12,000 × 12,000 PNG of 420 KB took the server to 2 GB to make its thumbnail."""
    from PIL import Image

    from claims.web.documents import THUMBNAIL_SOURCE_PIXELS, _thumbnail

    side = int(THUMBNAIL_SOURCE_PIXELS ** 0.5) + 100
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, "PNG")  # one bit a pixel: a few hundred KB
    assert _thumbnail(out.getvalue()) is None
    assert _thumbnail(image("PNG")) is not None
