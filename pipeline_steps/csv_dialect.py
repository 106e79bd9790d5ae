"""The one CSV dialect JobClf reads and writes: RFC 4180 (https://www.rfc-editor.org/rfc/rfc4180).

Fields are separated by commas; a field holding a comma, a quote or a line break is enclosed in double
quotes, and a quote inside it is written twice; a quoted field may span lines. Nothing else escapes: a
backslash is a character like any other. Reading is strict: a quote that does not close, or text after
a closing quote, is an error naming the record, never a silent merge of rows.
Records end with CRLF, LF or CR when read; JobClf writes LF (every RFC 4180 reader accepts it, and the
predictions CSV has always been written so). A record with more or fewer fields than the header is
rejected as WRONG_FIELD_COUNT, never cut to fit.

The endpoint's text/csv bodies (inference.py) and the CSVs JobClf writes (csv_cells.write_csv) use it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

WRONG_FIELD_COUNT = "wrong_field_count"


class Rfc4180(csv.Dialect):
    delimiter = ","
    quotechar = '"'
    doublequote = True
    escapechar = None
    skipinitialspace = False
    lineterminator = "\n"
    quoting = csv.QUOTE_MINIMAL
    strict = True


def reader(lines: Iterable[str]) -> Iterator[list[str]]:
    """csv.reader in the RFC 4180 dialect over text lines (open them with newline="" so that a quoted
    line break stays in its field). Python 3.9's csv refuses NUL: it becomes U+FFFD, which
    text.title_problem rejects as one undecodable title instead of the whole input."""
    return csv.reader((line.replace("\x00", "\ufffd") for line in lines), dialect=Rfc4180)


def writer(handle):
    return csv.writer(handle, dialect=Rfc4180)
