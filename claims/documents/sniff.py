"""What a file is, read from its content (its first bytes, and for the zip-based office
formats its table of contents), never from its name. Pure: no database, no storage."""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class FileType:
    kind: str  # image | pdf | office
    content_type: str
    extension: str

    @property
    def inline(self) -> bool:
        """Whether a browser shows it by itself (images and PDF); office files download."""
        return self.kind in ("image", "pdf")


JPEG = FileType("image", "image/jpeg", "jpg")
PNG = FileType("image", "image/png", "png")
GIF = FileType("image", "image/gif", "gif")
WEBP = FileType("image", "image/webp", "webp")
HEIC = FileType("image", "image/heic", "heic")
TIFF = FileType("image", "image/tiff", "tif")
BMP = FileType("image", "image/bmp", "bmp")
PDF = FileType("pdf", "application/pdf", "pdf")
DOCX = FileType("office", "application/vnd.openxmlformats-officedocument."
                "wordprocessingml.document", "docx")
XLSX = FileType("office", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "xlsx")
PPTX = FileType("office", "application/vnd.openxmlformats-officedocument."
                "presentationml.presentation", "pptx")
ODT = FileType("office", "application/vnd.oasis.opendocument.text", "odt")
ODS = FileType("office", "application/vnd.oasis.opendocument.spreadsheet", "ods")
OLE = FileType("office", "application/x-ole-storage", "doc")  # .doc/.xls/.ppt/.wps of old
ALL = (JPEG, PNG, GIF, WEBP, HEIC, TIFF, BMP, PDF, DOCX, XLSX, PPTX, ODT, ODS, OLE)
ACCEPTED = "JPEG, PNG, GIF, WebP, HEIC, TIFF, BMP, PDF, Word, Excel, PowerPoint, OpenDocument"
# What a file input offers (the phone's camera among them); the server decides by content.
ACCEPT_ATTRIBUTE = ",".join(["image/*", "application/pdf", ".pdf", ".doc", ".docx", ".xls",
                             ".xlsx", ".ppt", ".pptx", ".odt", ".ods", ".wps"])
# The names a download of each type may end with; any other is given the type's own.
EXTENSIONS = {**{t.content_type: {t.extension} for t in ALL},
              JPEG.content_type: {"jpg", "jpeg"}, TIFF.content_type: {"tif", "tiff"},
              HEIC.content_type: {"heic", "heif"},
              OLE.content_type: {"doc", "xls", "ppt", "wps", "et", "dps"}}


def download_name(name: str, content_type: str) -> str:
    """A stored file's name as offered for download, ending as its content does: a page saved
    as 发票.html that passed for a PDF would open as a page, scripts and all."""
    allowed = EXTENSIONS.get(content_type)
    stem, dot, extension = name.rpartition(".")
    if not allowed or dot and extension.lower() in allowed:
        return name
    own = next(t.extension for t in ALL if t.content_type == content_type)
    return f"{stem if dot else name}.{own}"


HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"}
OOXML = {"word/": DOCX, "xl/": XLSX, "ppt/": PPTX}
ODF = {ODT.content_type: ODT, ODS.content_type: ODS}


def sniff(data: bytes) -> FileType | None:
    """The file's type from its content, or None when it is none of the accepted kinds."""
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return HEIC
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return TIFF
    if head.startswith(b"BM") and len(data) >= 26 and int.from_bytes(data[2:6], "little") in (
            0, len(data)):
        return BMP
    start = data[:1024].find(b"%PDF-")  # readers allow a little before the header,
    if start == 0 or start > 0 and b"<" not in data[:start]:  # but not a page's markup
        return PDF
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return OLE
    if head.startswith(b"PK\x03\x04"):
        return _zipped_office(data)
    return None


MIMETYPE_MAX = 100  # an ODF's mimetype entry is its media type, some 50 characters


def _zipped_office(data: bytes) -> FileType | None:
    """A zip is an office file only when its contents say so (any other zip is refused)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if "mimetype" in names:
                # read no more than a media type's length: a 1 MB upload whose entry
                # inflated to 1 GiB had held 2.4 GB and stalled the service (a tester's)
                with archive.open("mimetype") as entry:
                    declared = entry.read(MIMETYPE_MAX + 1)
                if len(declared) > MIMETYPE_MAX:
                    return None
                return ODF.get(declared.decode("ascii", "replace").strip())
            if "[Content_Types].xml" not in names:
                return None
            for prefix, found in OOXML.items():
                if any(name.startswith(prefix) for name in names):
                    return found
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, NotImplementedError,
            zlib.error, EOFError):  # encrypted, an unknown method, broken deflate data
        return None
    return None
