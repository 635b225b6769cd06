"""Synthetic scalp photographs with exact ground truth (photostation's own renderer).

Modules: :mod:`.scene` (follicular units, hairs, follow-up evolution), :mod:`.camera`
(pinhole pose, lighting, sensor), :mod:`.trichoscopy` (dermatoscope close-ups),
:mod:`.crown` (top-down vertex photos), :mod:`.exif_writer` (JPEG + EXIF) and
:mod:`.samples` (the demo archive).
"""

from .camera import (Lighting, Optics, Pose, focal_length_px, intrinsic_matrix,
                     scalp_to_image_homography, srgb_decode, srgb_encode)
from .crown import CrownHead, CrownRender, evolve_crown, render_crown
from .exif_writer import ExifFields, encode_jpeg, write_jpeg
from .scene import (EvolutionTruth, FollicularUnit, Hair, ScalpPatch, evolve_patch,
                    make_scalp_patch)
from .trichoscopy import Render, hairs_in_frame, render_trichoscopy

__all__ = [
    "CrownHead", "CrownRender", "EvolutionTruth", "ExifFields", "FollicularUnit", "Hair",
    "Lighting", "Optics", "Pose", "Render", "SampleArchive", "ScalpPatch", "encode_jpeg",
    "evolve_crown", "evolve_patch", "focal_length_px", "generate_sample_archive",
    "hairs_in_frame", "intrinsic_matrix", "make_scalp_patch", "render_crown",
    "render_trichoscopy", "scalp_to_image_homography", "srgb_decode", "srgb_encode",
    "write_jpeg",
]


def __getattr__(name: str):
    # Imported lazily so ``python -m photostation.synthetic.samples`` runs cleanly.
    if name in ("SampleArchive", "generate_sample_archive"):
        from . import samples
        return getattr(samples, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
