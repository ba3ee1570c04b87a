"""Files as the office's exports arrive, built in memory for the import tests."""

from __future__ import annotations

import csv
import io


def csv_bytes(header: list[str], rows: list[list], encoding: str = "utf-8") -> bytes:
    """A CSV file of ``header`` and ``rows`` as a spreadsheet saves it, values as given
    (unlike policies.tables.csv_bytes, nothing formula-like is neutralised: a test sends
    what a file may hold)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)
