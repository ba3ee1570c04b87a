"""Uploaded files, from the API and the pages alike: read up to the size limit and no further."""

from __future__ import annotations

from fastapi import UploadFile

from policies.errors import InvalidInput
from policies.limits import ImportLimits


def read_upload(file: UploadFile) -> bytes:
    """The file's bytes; refused (422, naming the limit) past FANGPIN_IMPORT_MAX_BYTES, which
    reads at most one byte more than the limit. Blocking: call it from a thread."""
    limit = ImportLimits().max_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"the file is over the upload limit of {limit:,} bytes "
                           "(FANGPIN_IMPORT_MAX_BYTES)", field="file", value=file.filename)
    return data
