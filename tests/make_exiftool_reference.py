"""Regenerate tests/data/exiftool_reference.json from ExifTool (Debian: libimage-exiftool-perl).

    python tests/make_exiftool_reference.py [REALDATA_DIR]

The file records what ExifTool reads from every real sample file, tag by tag with its group
(IFD0, ExifIFD, ...), so the metadata tests compare photostation with ExifTool's reading.
tests/test_metadata_exiftool.py also re-runs ExifTool when it is installed and checks this
file is still what ExifTool says.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TAGS = ["DateTimeOriginal", "SubSecTimeOriginal", "OffsetTimeOriginal", "Make", "Model", "FocalLength",
        "FNumber", "ExposureTime", "ISO", "Orientation", "Flash", "WhiteBalance", "Software", "ModifyDate",
        "SerialNumber", "LensModel", "ImageWidth", "ImageHeight", "Rotation", "FocalLengthIn35mmFormat"]
SUFFIXES = {".jpg", ".jpeg", ".heic", ".heif", ".tif", ".tiff", ".png"}
HERE = Path(__file__).resolve().parent
DEFAULT_REALDATA = HERE.parent.parent / "shared" / "realdata" / "exif-samples"


def sample_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def exiftool_reading(root: Path) -> dict[str, dict]:
    files = sample_files(root)
    args = ["exiftool", "-j", "-n", "-G1", "-a", "-q", "-q", "-charset", "utf8"] + [f"-{t}" for t in TAGS]
    out = subprocess.run(args + [str(f) for f in files], capture_output=True, text=True, check=False).stdout
    reading = {}
    for record in json.loads(out):
        relative = Path(record.pop("SourceFile")).resolve().relative_to(root.resolve()).as_posix()
        reading[relative] = {k: v for k, v in record.items() if not k.startswith("System:")}
    for f in files:
        reading.setdefault(f.relative_to(root).as_posix(), {})
    return dict(sorted(reading.items()))


def exiftool_version() -> str:
    return subprocess.run(["exiftool", "-ver"], capture_output=True, text=True, check=True).stdout.strip()


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_REALDATA
    data = {"exiftool_version": exiftool_version(), "tags": TAGS, "files": exiftool_reading(root)}
    target = HERE / "data" / "exiftool_reference.json"
    target.write_text(json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n", "utf-8")
    print(f"{len(data['files'])} files -> {target}")
