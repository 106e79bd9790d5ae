"""Download the pinned O*NET 28.1 Excel release and keep the two tables JobClf trains on.

    python scripts/fetch_onet.py DEST      # -> DEST/db_28_1_excel/{Occupation Data,Alternate Titles}.xlsx

The release zip comes from the O*NET Resource Center (CC BY 4.0); each extracted table must match
its pinned SHA-256, so a changed or truncated download stops here instead of training on it.
"""

from __future__ import annotations

import hashlib
import io
import sys
import urllib.request
import zipfile
from pathlib import Path

RELEASE = "db_28_1_excel"
URL = f"https://www.onetcenter.org/dl_files/database/{RELEASE}.zip"
TABLE_SHA256 = {
    "Occupation Data.xlsx": "c2692f339e570138118ecf78383968bfcd625813cf0ffa928a7f01d2cefadb45",
    "Alternate Titles.xlsx": "bc4e716f0b535284d49cd33e6d359e465bccf91bc72fe784ae854067a9791566",
}


def extract_tables(release_zip: bytes, destination: Path) -> list[Path]:
    """Verify and write the pinned tables from the release zip's bytes."""
    destination.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(io.BytesIO(release_zip)) as archive:
        members = {Path(name).name: name for name in archive.namelist()}
        for table, expected in TABLE_SHA256.items():
            if table not in members:
                raise SystemExit(f"{URL}: the release has no {table!r}")
            data = archive.read(members[table])
            actual = hashlib.sha256(data).hexdigest()
            if actual != expected:
                raise SystemExit(f"{URL}: {table} has SHA-256 {actual}, expected {expected}; not using it")
            (destination / table).write_bytes(data)
            written.append(destination / table)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    destination = Path(argv[0]) / RELEASE
    print(f"Downloading {URL}")
    try:
        with urllib.request.urlopen(URL, timeout=120) as response:
            release_zip = response.read()
    except OSError as error:
        raise SystemExit(
            f"cannot download {URL} ({error}); pass ONET_DIR=<folder with the two tables> instead"
        ) from error
    for path in extract_tables(release_zip, destination):
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
