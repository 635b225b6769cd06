"""Readers of the public real photo sets the benchmarks measure on.

None of these sets states a licence: they are never committed to this repository. Fetch
them yourself and point ``$PHOTOSTATION_REALSETS`` at the folder that holds them, one
sub-folder per repository, named after it::

    $PHOTOSTATION_REALSETS/hair-follicle-density-estimation-209b/data/{Images,Annotations,ImageSets}

A benchmark that needs a set it cannot find says so and exits 0 (nothing measured).

**FDU / BSRL hair follicle set** (Huashan Hospital; via the repository
``roshan-k-patel/hair-follicle-density-estimation-209b``): 1280x1024 frames of clipped
scalp from a "70x" USB microscope, one Pascal-VOC box per hair shaft. How we read it:

- Corners are sorted (about 2,500 boxes of train + val have x_min > x_max or y_min > y_max).
- ``*(1).xml`` files are duplicates of the frame's own annotation and are not read.
- Frames with marks drawn by annotators (red circles and lines, for example around a
  follicular unit) are left out: a frame is *marked* when more than
  ``RED_MARK_SHARE`` of its pixels are saturated red (R > 150, R - G > 60, R - B > 60),
  which no scalp, blood vessel or hair reaches in this set (red skin is desaturated).
- Scale: the L-shaped "1.0 mm" bar the device software draws spans 361 px (vertical arm
  of 220128_B558_3, measured here), so 0.00277 mm/px; the frame is 3.55 x 2.84 mm,
  0.1006 cm2.
- The ``test`` split is held back for an independent measurement: :func:`fdu_frames`
  refuses it.
"""
from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FDU_NAME = "hair-follicle-density-estimation-209b"
FDU_MM_PER_PX = 1.0 / 361.0
RED_MARK_SHARE = 0.0005
HELD_BACK = ("test",)


def realsets_root() -> Path | None:
    """``$PHOTOSTATION_REALSETS`` as a path, or None when unset or missing."""
    value = os.environ.get("PHOTOSTATION_REALSETS")
    if not value or not Path(value).is_dir():
        return None
    return Path(value)


def require_set(name: str) -> Path:
    """The folder of one real set, or exit 0 with a clear message when it is not there."""
    root = realsets_root()
    if root is None:
        print(f"skipped: set PHOTOSTATION_REALSETS to the folder holding {name}/ (the real photo sets are not "
              "shipped: they state no licence)")
        raise SystemExit(0)
    folder = root / name
    if not folder.is_dir():
        print(f"skipped: {folder} not found (fetch {name} into $PHOTOSTATION_REALSETS)")
        raise SystemExit(0)
    return folder


@dataclass(frozen=True)
class LabelledFrame:
    name: str
    image_path: Path
    boxes: np.ndarray
    """``(N, 4)`` x0, y0, x1, y1 (sorted corners), file pixels: one box per hair shaft."""
    classes: tuple[str, ...]


def read_voc(path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """Boxes (sorted corners) and class names of one Pascal-VOC annotation."""
    boxes, classes = [], []
    for obj in ET.parse(path).findall("object"):
        box = obj.find("bndbox")
        x0, y0, x1, y1 = (float(box.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
        classes.append((obj.find("class").text or "").strip())
    return np.array(boxes, float).reshape(-1, 4), tuple(classes)


def red_mark_share(rgb: np.ndarray) -> float:
    """Share of saturated red pixels (annotators' drawn marks)."""
    r, g, b = (rgb[..., i].astype(np.int16) for i in range(3))
    return float(((r > 150) & (r - g > 60) & (r - b > 60)).mean())


def fdu_frames(split: str, root: Path | None = None) -> list[LabelledFrame]:
    """The labelled frames of one split of the FDU set (``train`` or ``val``)."""
    if split in HELD_BACK:
        raise SystemExit(f"the FDU '{split}' split is held back for independent measurement: use train or val")
    data = (root or require_set(FDU_NAME)) / "data"
    names = (data / "ImageSets" / "Main" / f"{split}.txt").read_text().split()
    frames = []
    for name in names:
        annotation = data / "Annotations" / f"{name}.xml"
        image = data / "Images" / f"{name}.jpg"
        if not annotation.exists() or not image.exists():
            continue
        boxes, classes = read_voc(annotation)
        frames.append(LabelledFrame(name, image, boxes, classes))
    return frames


def load_rgb(path: Path) -> np.ndarray:
    """8-bit RGB of a file, with photostation's own decoder (EXIF orientation applied)."""
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from photostation.imaging import decode
    return decode(path, path.name)
