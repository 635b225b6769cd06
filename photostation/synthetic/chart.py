"""Calibration targets photographed into synthetic scenes, with exact truth.

Three scenes, each returning the image together with the geometry and colours that drew it:

- :func:`render_colorchecker_scene`: an X-Rite ColorChecker Classic (24 patches) under a
  CIE illuminant, seen by a camera with measured spectral sensitivities. The camera's raw
  signal of every patch is the spectral product reflectance x illuminant x sensitivity,
  summed over wavelength by colour-science (:func:`colour.characterisation.training_data_sds_to_RGB`).
  A simple in-camera pipeline follows: white balance (a fixed daylight preset, or gains
  from the chart's grey patches), a fixed 3x3 camera-to-linear-sRGB matrix fitted once
  under D65 on an independent training set (the 190 reflectances of the Academy's
  rawtoaces, shipped with colour-science), exposure, optical blur, sensor noise and sRGB
  encoding. Because the matrix is fitted under daylight and no 3x3 matrix satisfies the
  Luther condition for a real sensor, colours under A or FL2 carry the errors a colour
  correction has to remove.
- :func:`render_project_card_scene`: photostation's own card PS-1 (ArUco markers,
  :mod:`calibration.project_card`) placed by the pinhole model at a tilt, with the
  project's lighting model applied.
- :func:`render_grey_target`: a uniform grey target under uneven light, for flat-field
  tests.

Chart geometry: the card is 279 x 216 mm with 40 mm square patches on a 44 mm pitch
(4 mm black gaps), 6 columns by 4 rows, dark skin at the top left, the neutral row at the
bottom (white to black). Chart millimetres have ``x`` to the right and ``y`` down from the
card's top-left corner; the card is placed in the scene through the pinhole homography of
:mod:`photostation.synthetic.camera`, so every truth point (corners, patch centres) comes
from the same matrix that drew the pixels.

References
----------
Pointer M.R., Attridge G.G., Jacobson R.E., "Practical camera characterization for
colour measurement", Imaging Sci. J. 49 (2001) 63-80 (the spectral camera model).
Darrodi M.M., Finlayson G., Goodman T., Mackiewicz M., "Reference data set for camera
spectral sensitivity estimation", JOSA A 32(3) 2015 (the NPL sensitivities in colour-science).
McCamy C.S., Marcus H., Davidson J.G., "A color-rendition chart", J. Appl. Photogr. Eng.
2(3) 1976 (the ColorChecker).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import lru_cache, wraps

import cv2
import numpy as np

from calibration.project_card import (CARD_HEIGHT_MM, CARD_WIDTH_MM, card_layout,
                                      render_card)
from calibration.reference import colorchecker24

from .camera import (Lighting, Optics, Pose, as_generator, camera_extrinsics, develop,
                     illumination_field, local_px_per_mm, nominal_distance_mm,
                     pixel_scalp_coordinates, project_points, scalp_to_image_homography,
                     srgb_decode, srgb_encode)
from .crown import CrownHead, render_crown
from .scene import value_noise

# --- chart geometry (millimetres) ---
CHART_WIDTH_MM = 279.0
CHART_HEIGHT_MM = 216.0
PATCH_MM = 40.0
GAP_MM = 4.0
PITCH_MM = PATCH_MM + GAP_MM
CHART_COLUMNS = 6
CHART_ROWS = 4
_GRID_W = CHART_COLUMNS * PITCH_MM - GAP_MM
_GRID_H = CHART_ROWS * PITCH_MM - GAP_MM
GRID_ORIGIN_MM = ((CHART_WIDTH_MM - _GRID_W) / 2.0, (CHART_HEIGHT_MM - _GRID_H) / 2.0)

ILLUMINANTS = ("A", "D50", "D65", "FL2")
DEFAULT_CAMERA = "Nikon 5100 (NPL)"
SPECTRAL_CHART = "BabelColor Average"
CHART_FOCAL_LENGTH_35MM = 50.0
WHITE_LEVEL = 0.85          # linear level of the white patch's largest channel at 0 EV
FRAME_REFLECTANCE_SCALE = 0.6  # the black card is darker than the black patch
_AWB_PATCHES = (19, 20, 21, 22)  # neutral 8 .. neutral 3.5: neither clipped nor in the noise
_SUBSAMPLES = 4              # per axis, for anti-aliasing the patch and card edges
_CMFS = "CIE 1931 2 Degree Standard Observer"


def _colour():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour
    return colour


def _quiet(func):
    """Run a colour-science computation without its shape-alignment notices."""
    @wraps(func)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return func(*args, **kwargs)
    return wrapper


# ----------------------------------------------------------------------------- results

@dataclass(frozen=True, eq=False)
class ChartRender:
    """A ColorChecker photographed in a scene, with its exact truth.

    Attributes
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` sRGB, uint8 or uint16.
    chart_to_image : numpy.ndarray
        3x3 homography, chart millimetres (origin at the card's top-left corner, ``x``
        right, ``y`` down) -> image pixels (pixel centres at integers).
    corners_px : numpy.ndarray
        ``(4, 2)`` outer card corners: top-left, top-right, bottom-right, bottom-left of
        the chart (clockwise on screen for an unmirrored view). May lie outside the frame.
    grid_corners_px : numpy.ndarray
        ``(4, 2)`` outer corners of the patch grid (the patches' outline without the
        card's border), same order. Detectors such as OpenCV ``mcc`` report this outline
        (enlarged by about half a gap) rather than the card's edge.
    patch_centres_px : numpy.ndarray
        ``(24, 2)`` patch centres, row by row from dark skin (top-left) to black.
    patch_visible : numpy.ndarray
        ``(24,)`` bool: the whole patch lies inside the frame.
    patch_overexposed : numpy.ndarray
        ``(24,)`` bool: a channel of the patch's noise-free camera value reaches 1 (clipped).
    reference_lab_d50 : numpy.ndarray
        ``(24, 3)`` CIE L*a*b* (D50) of the library's reference
        (:func:`calibration.reference.colorchecker24`).
    spectral_lab_d50 : numpy.ndarray
        ``(24, 3)`` L*a*b* (D50) of the reflectances actually rendered; with the BabelColor
        average spectra it differs from the reference by the chart-to-chart variation.
    camera_linear_srgb : numpy.ndarray
        ``(24, 3)`` noise-free linear RGB the camera pipeline writes for each patch
        (before clipping, texture, blur and noise): the "before correction" colours.
    true_linear_srgb_under_illuminant : numpy.ndarray
        ``(24, 3)`` what an ideal colorimetric camera with the same white-balance mode
        records: CIE XYZ under the illuminant -> linear sRGB, without adaptation for the
        daylight preset, adapted from the illuminant's white to D65 (Bradford) for
        ``"auto"``; scaled by the same exposure rule as the render.
    illuminant : str
        Key of ``colour.SDS_ILLUMINANTS``.
    cct_k : float
        Correlated colour temperature of the illuminant (Ohno 2013, colour-science).
    camera : str
        Key of ``colour.MSDS_CAMERA_SENSITIVITIES``.
    white_balance : str
        ``"daylight"`` or ``"auto"``.
    white_balance_gains : numpy.ndarray
        ``(3,)`` raw gains applied (green = 1).
    camera_matrix : numpy.ndarray
        3x3 white-balanced camera RGB -> linear sRGB matrix (fitted under D65).
    exposure_scale : float
        Factor applied after the matrix (puts the white patch at ``0.85 * 2**exposure_ev``).
    pose : Pose
        Camera pose (the chart centre is the aimed point).
    focal_length_35mm : float
        35 mm-equivalent focal length of the pinhole model.
    spectra : str
        Which reflectances were rendered (see :func:`render_colorchecker_scene`).
    """

    image: np.ndarray
    chart_to_image: np.ndarray
    corners_px: np.ndarray
    grid_corners_px: np.ndarray
    patch_centres_px: np.ndarray
    patch_visible: np.ndarray
    patch_overexposed: np.ndarray
    reference_lab_d50: np.ndarray
    spectral_lab_d50: np.ndarray
    camera_linear_srgb: np.ndarray
    true_linear_srgb_under_illuminant: np.ndarray
    illuminant: str
    cct_k: float
    camera: str
    white_balance: str
    white_balance_gains: np.ndarray
    camera_matrix: np.ndarray
    exposure_scale: float
    pose: Pose = field(default_factory=Pose)
    focal_length_35mm: float = CHART_FOCAL_LENGTH_35MM
    spectra: str = "babelcolor"

    @property
    def patch_names(self) -> tuple[str, ...]:
        """Reference patch names, row by row."""
        return colorchecker24().patch_names


@dataclass(frozen=True, eq=False)
class CardRender:
    """The PS-1 card photographed in a scene, with its exact truth.

    Attributes
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` sRGB uint8.
    card_to_image : numpy.ndarray
        3x3 homography, card millimetres (origin at the top-left corner) -> image pixels.
    mm_per_px_at_card_centre : float
        True local scale at the card centre: ``1 / sqrt(det J)`` of the homography's
        Jacobian there (isotropic; along the tilt direction the card is foreshortened by
        ``cos(tilt)``).
    tilt_deg : float
        Angle between the card's normal and the camera's optical axis.
    corners_px : numpy.ndarray
        ``(4, 2)`` card corners, top-left first, clockwise.
    marker_corners_px : dict
        Marker id -> ``(4, 2)`` corners in ArUco order.
    patch_centres_px : numpy.ndarray
        ``(12, 2)`` centres of the card's patches (grey ramp, then colours).
    pose : Pose
        Camera pose (the card centre is the aimed point).
    lighting : Lighting
        Light applied.
    focal_length_35mm : float
        35 mm-equivalent focal length.
    px_per_mm_at_card : float
        Nominal scale (at zero tilt and scale 1).
    """

    image: np.ndarray
    card_to_image: np.ndarray
    mm_per_px_at_card_centre: float
    tilt_deg: float
    corners_px: np.ndarray
    marker_corners_px: dict
    patch_centres_px: np.ndarray
    pose: Pose = field(default_factory=Pose)
    lighting: Lighting = field(default_factory=Lighting)
    focal_length_35mm: float = 50.0
    px_per_mm_at_card: float = 6.0


@dataclass(frozen=True, eq=False)
class GreyRender:
    """A uniform grey target photographed under uneven light.

    Attributes
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` sRGB, uint8 or uint16.
    illumination_field : numpy.ndarray
        ``(H, W)`` float32 relative light on the target (vignetting x gradient, plus the
        mean ambient light), normalised to mean 1.
    reflectance : float
        Linear reflectance of the target.
    lighting : Lighting
        Light applied.
    optics : Optics
        Blur and noise applied.
    """

    image: np.ndarray
    illumination_field: np.ndarray
    reflectance: float
    lighting: Lighting = field(default_factory=Lighting)
    optics: Optics = field(default_factory=Optics)


# ----------------------------------------------------------------------- spectral model

@lru_cache(maxsize=4)
def _sensitivities(camera: str):
    colour = _colour()
    if camera not in colour.MSDS_CAMERA_SENSITIVITIES:
        raise ValueError(f"unknown camera {camera!r}; one of {sorted(colour.MSDS_CAMERA_SENSITIVITIES)}")
    return colour.MSDS_CAMERA_SENSITIVITIES[camera]


def _illuminant_sd(illuminant: str):
    colour = _colour()
    if illuminant not in colour.SDS_ILLUMINANTS:
        raise ValueError(f"unknown illuminant {illuminant!r}")
    return colour.SDS_ILLUMINANTS[illuminant]


SPECTRA = ("babelcolor", "reference")
_SPECTRAL_SHAPE = (360.0, 780.0, 5.0)


@lru_cache(maxsize=2)
@_quiet
def _chart_reflectances(spectra: str = "babelcolor"):
    """The chart's 24 reflectances on 360-780 nm in 5 nm steps.

    ``"babelcolor"``: colour-science's BabelColor average of measured charts. ``"reference"``:
    the same spectra multiplied per patch by ``1 + k . cmf(lambda)`` (the CIE 1931
    colour-matching functions, each scaled to peak 1, and three weights ``k`` solved
    linearly) so that their CIE XYZ under D50 equals the library's reference values: a
    chart that matches its reference exactly under D50 while keeping realistic spectral
    shapes (the camera's metamerism under other lights remains; the reflectances change by
    at most 15 %).
    """
    colour = _colour()
    if spectra not in SPECTRA:
        raise ValueError(f"spectra must be one of {SPECTRA}")
    sds = colour.SDS_COLOURCHECKERS[SPECTRAL_CHART]
    msds = colour.colorimetry.sds_and_msds_to_msds(list(sds.values())).copy()
    msds = msds.align(colour.SpectralShape(*_SPECTRAL_SHAPE))
    if spectra == "babelcolor":
        return msds
    values = np.asarray(msds.values, float)
    cmfs = colour.MSDS_CMFS[_CMFS].copy().align(colour.SpectralShape(*_SPECTRAL_SHAPE)).values
    shapes = cmfs / cmfs.max(axis=0)
    basis = [values * shapes[:, j:j + 1] for j in range(3)]
    xyz = [_xyz(colour.MultiSpectralDistributions(b, msds.wavelengths, labels=msds.labels), "D50") for b in basis]
    xyz_r = _xyz(msds, "D50")
    d50 = colour.CCS_ILLUMINANTS[_CMFS]["D50"]
    target = colour.Lab_to_XYZ(np.asarray(colorchecker24().lab_d50, float), d50)
    adjusted = np.empty_like(values)
    for i in range(values.shape[1]):
        a = np.column_stack([xyz[0][i], xyz[1][i], xyz[2][i]])
        k = np.linalg.solve(a, target[i] - xyz_r[i])
        adjusted[:, i] = values[:, i] * (1.0 + shapes @ k)
    if adjusted.min() < 0.0 or adjusted.max() > 1.0:  # pragma: no cover - checked by the tests
        raise RuntimeError("reference-matched reflectances left [0, 1]")
    return colour.MultiSpectralDistributions(adjusted, msds.wavelengths, labels=msds.labels,
                                             name="ColorChecker matched to the reference")


@_quiet
def _camera_raw(reflectances, camera: str, illuminant: str) -> np.ndarray:
    """Raw camera RGB of reflectances; a perfect white gives 1 in the strongest channel."""
    colour = _colour()
    sens = _sensitivities(camera)
    ill = colour.characterisation.normalise_illuminant(_illuminant_sd(illuminant), sens)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "aligning shape" notices
        rgb, multipliers = colour.characterisation.training_data_sds_to_RGB(reflectances, sens, ill)
    return np.asarray(rgb / multipliers, float)


@_quiet
def _camera_white(camera: str, illuminant: str) -> np.ndarray:
    """Raw camera RGB of a perfect white (same normalisation as :func:`_camera_raw`)."""
    colour = _colour()
    sens = _sensitivities(camera)
    ill = colour.characterisation.normalise_illuminant(_illuminant_sd(illuminant), sens)
    return np.sum(sens.values * ill.values[:, None], axis=0)


@_quiet
def _xyz(reflectances, illuminant: str) -> np.ndarray:
    """CIE XYZ of reflectances under an illuminant (the illuminant's white has Y = 1)."""
    colour = _colour()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(colour.characterisation.training_data_sds_to_XYZ(
            reflectances, colour.MSDS_CMFS[_CMFS], _illuminant_sd(illuminant), None), float)


@_quiet
def daylight_gains(camera: str = DEFAULT_CAMERA) -> np.ndarray:
    """White-balance gains of the camera's daylight preset (a perfect white neutral under D65).

    Parameters
    ----------
    camera : str
        Key of ``colour.MSDS_CAMERA_SENSITIVITIES``.

    Returns
    -------
    numpy.ndarray
        ``(3,)`` raw gains, green = 1.
    """
    white = _camera_white(camera, "D65")
    return white[1] / white


@lru_cache(maxsize=4)
@_quiet
def camera_matrix(camera: str = DEFAULT_CAMERA) -> np.ndarray:
    """The camera's fixed white-balanced-RGB -> linear sRGB matrix, fitted once under D65.

    Least squares (colour-science's ``matrix_colour_correction``, Cheung 2004, 3 terms)
    over the 190 rawtoaces training reflectances under D65, camera RGB with the daylight
    gains against their colorimetric linear sRGB (D65 white, no adaptation); rows are then
    scaled so that a perfect white stays neutral.

    Parameters
    ----------
    camera : str
        Key of ``colour.MSDS_CAMERA_SENSITIVITIES``.

    Returns
    -------
    numpy.ndarray
        3x3 matrix (``linear_srgb = M @ rgb``).
    """
    colour = _colour()
    training = colour.characterisation.read_training_data_rawtoaces_v1()
    rgb = _camera_raw(training, camera, "D65") * daylight_gains(camera)
    srgb = colour.RGB_COLOURSPACES["sRGB"]
    target = colour.XYZ_to_RGB(_xyz(training, "D65"), srgb, illuminant=srgb.whitepoint,
                               chromatic_adaptation_transform=None)
    m = np.asarray(colour.characterisation.matrix_colour_correction(rgb, target, method="Cheung 2004",
                                                                   terms=3), float)
    # White preservation: the white-balanced perfect white maps to equal channels.
    white = _camera_white(camera, "D65") * daylight_gains(camera)
    out = m @ white
    return m * (out.mean() / out)[:, None]


@_quiet
def illuminant_cct_k(illuminant: str) -> float:
    """Correlated colour temperature of a CIE illuminant (Ohno 2013 via colour-science).

    Parameters
    ----------
    illuminant : str
        Key of ``colour.SDS_ILLUMINANTS``.

    Returns
    -------
    float
        CCT in kelvin.
    """
    colour = _colour()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        uv = colour.xy_to_UCS_uv(colour.XYZ_to_xy(colour.sd_to_XYZ(_illuminant_sd(illuminant))))
        cct, _ = colour.uv_to_CCT(uv, method="Ohno 2013")
    return float(cct)


@_quiet
def _linear_srgb_of_xyz(xyz: np.ndarray, source_white_xyz: np.ndarray | None) -> np.ndarray:
    colour = _colour()
    srgb = colour.RGB_COLOURSPACES["sRGB"]
    if source_white_xyz is None:
        return colour.XYZ_to_RGB(xyz, srgb, illuminant=srgb.whitepoint, chromatic_adaptation_transform=None)
    return colour.XYZ_to_RGB(xyz, srgb, illuminant=colour.XYZ_to_xy(source_white_xyz),
                             chromatic_adaptation_transform="Bradford")


@lru_cache(maxsize=32)
@_quiet
def _chart_colours(illuminant: str, camera: str, white_balance: str,
                   spectra: str = "babelcolor") -> dict[str, np.ndarray]:
    """Noise-free per-patch colours (unit exposure) and the pipeline's parameters."""
    colour = _colour()
    reflectances = _chart_reflectances(spectra)
    raw = _camera_raw(reflectances, camera, illuminant)
    if white_balance == "daylight":
        gains = daylight_gains(camera)
    elif white_balance == "auto":
        grey = raw[list(_AWB_PATCHES)].sum(axis=0)
        gains = grey[1] / grey
    else:
        raise ValueError("white_balance must be 'daylight' or 'auto'")
    m = camera_matrix(camera)
    cam = (raw * gains) @ m.T
    # The black card around the patches: the black patch's spectrum, darker.
    frame = cam[23] * FRAME_REFLECTANCE_SCALE
    # A spectrally flat 18 % grey (the grey backdrop).
    flat = (_camera_white(camera, illuminant) * 0.18 * gains) @ m.T
    # The cast of this light and white balance on a neutral surface relative to the
    # daylight preset under D65 (tints the rendered scalp photo behind the chart).
    ref_white = (_camera_white(camera, "D65") * daylight_gains(camera)) @ m.T
    cast = ((_camera_white(camera, illuminant) * gains) @ m.T) / ref_white
    xyz = _xyz(reflectances, illuminant)
    white_xyz = np.asarray(colour.sd_to_XYZ(_illuminant_sd(illuminant), colour.MSDS_CMFS[_CMFS]), float)
    white_xyz = white_xyz / white_xyz[1]
    ideal = _linear_srgb_of_xyz(xyz, None if white_balance == "daylight" else white_xyz)
    d50 = colour.CCS_ILLUMINANTS[_CMFS]["D50"]
    spectral_lab = colour.XYZ_to_Lab(_xyz(reflectances, "D50"), d50)
    return {"camera": cam, "frame": frame, "flat_grey": flat, "cast": cast / cast[1],
            "gains": gains, "matrix": m, "ideal": ideal, "spectral_lab": spectral_lab}


# ----------------------------------------------------------------------- chart geometry

def chart_patch_centres_mm() -> np.ndarray:
    """Centres of the 24 patches in chart millimetres, row by row from the top left.

    Returns
    -------
    numpy.ndarray
        ``(24, 2)``.
    """
    ox, oy = GRID_ORIGIN_MM
    cols, rows = np.meshgrid(np.arange(CHART_COLUMNS), np.arange(CHART_ROWS))
    return np.column_stack([ox + PATCH_MM / 2 + PITCH_MM * cols.ravel(),
                            oy + PATCH_MM / 2 + PITCH_MM * rows.ravel()]).astype(float)


def chart_corners_mm() -> np.ndarray:
    """Outer corners of the chart card, top-left first, clockwise (``(4, 2)`` mm)."""
    return np.array([[0.0, 0.0], [CHART_WIDTH_MM, 0.0], [CHART_WIDTH_MM, CHART_HEIGHT_MM],
                     [0.0, CHART_HEIGHT_MM]])


def chart_grid_corners_mm() -> np.ndarray:
    """Outer corners of the patch grid, top-left first, clockwise (``(4, 2)`` mm)."""
    x0, y0 = GRID_ORIGIN_MM
    return np.array([[x0, y0], [x0 + _GRID_W, y0], [x0 + _GRID_W, y0 + _GRID_H], [x0, y0 + _GRID_H]])


def _chart_labels(x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
    """-1 outside the card, 0..23 on a patch, 24 on the black card."""
    inside = (x_mm >= 0) & (x_mm < CHART_WIDTH_MM) & (y_mm >= 0) & (y_mm < CHART_HEIGHT_MM)
    gx = (x_mm - GRID_ORIGIN_MM[0]) / PITCH_MM
    gy = (y_mm - GRID_ORIGIN_MM[1]) / PITCH_MM
    col, row = np.floor(gx), np.floor(gy)
    on_patch = ((gx - col) * PITCH_MM < PATCH_MM) & ((gy - row) * PITCH_MM < PATCH_MM) & (
        col >= 0) & (col < CHART_COLUMNS) & (row >= 0) & (row < CHART_ROWS)
    labels = np.where(inside, 24, -1).astype(np.int16)
    idx = (row * CHART_COLUMNS + col)
    labels[on_patch & inside] = idx[on_patch & inside].astype(np.int16)
    return labels


def _coverage_weights(h: np.ndarray, shape: tuple[int, int], n_labels: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel label at the pixel centre and, on edge pixels, the area share of each label.

    Returns the centre labels ``(H, W)``, the flat indices of edge pixels ``(E,)`` and
    their label shares ``(E, n_labels + 1)`` (last column: outside the card).
    """
    x, y = pixel_scalp_coordinates(h, shape)
    labels = _chart_labels(x, y)
    lab8 = (labels + 1).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    edge = cv2.dilate(lab8, kernel) != cv2.erode(lab8, kernel)
    rows, cols = np.nonzero(edge)
    s = _SUBSAMPLES
    off = (np.arange(s) + 0.5) / s - 0.5
    ou, ov = np.meshgrid(off, off)
    u = cols[:, None] + ou.ravel()[None, :]
    v = rows[:, None] + ov.ravel()[None, :]
    hi = np.linalg.inv(h)
    pts = project_points(hi, np.stack([u, v], -1))
    sub = _chart_labels(pts[..., 0], pts[..., 1])
    sub = np.where(sub < 0, n_labels, sub)
    shares = np.zeros((len(rows), n_labels + 1), np.float32)
    np.add.at(shares, (np.repeat(np.arange(len(rows)), s * s), sub.ravel()), 1.0 / (s * s))
    return labels, rows * shape[1] + cols, shares


# ---------------------------------------------------------------------------- scenes

def _scalp_backdrop(image_size: tuple[int, int], rng: np.random.Generator, *,
                    pose: Pose = Pose(), field_width_mm: float = 260.0) -> np.ndarray:
    """Linear RGB of a rendered crown photo (no vignetting, blur or noise: applied later)."""
    seed = int(rng.integers(0, 2**31 - 1))
    hrng = np.random.default_rng(seed)
    head = CrownHead(seed=seed, skin_melanin=float(hrng.uniform(0.05, 0.6)),
                     hair_colour=str(hrng.choice(["dark_brown", "black", "light_brown"])),
                     whorl_clockwise=bool(hrng.integers(2)))
    crown = render_crown(head, pose, Lighting(vignetting=0.0), Optics(blur_sigma_px=0.0, noise_sigma=0.0),
                         image_size=image_size, field_width_mm=field_width_mm, rng=hrng, supersample=1)
    return srgb_decode(crown.image).astype(np.float32)


def _add_noise(img: np.ndarray, noise_sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Shot noise above a read-noise floor, the model of :func:`camera.develop`."""
    if noise_sigma <= 0:
        return img
    sd = np.float32(noise_sigma) * np.sqrt(np.clip(img, 0.0, None) + np.float32(0.01))
    return img + sd * rng.standard_normal(img.shape, dtype=np.float32)


def render_colorchecker_scene(illuminant: str, *, camera: str = DEFAULT_CAMERA,
                              image_size: tuple[int, int] = (1600, 1200),
                              chart_width_frac: float = 0.45, pose: Pose = Pose(),
                              white_balance: str = "daylight", noise_sigma: float = 0.004,
                              background: str = "scalp",
                              rng: np.random.Generator | int | None = 0, bit_depth: int = 8,
                              exposure_ev: float = 0.0, vignetting: float = 0.0,
                              blur_sigma_px: float = 0.6, texture: float = 1.0,
                              focal_length_35mm: float = CHART_FOCAL_LENGTH_35MM,
                              spectra: str = "babelcolor") -> ChartRender:
    """Photograph a ColorChecker Classic under a CIE illuminant.

    Parameters
    ----------
    illuminant : str
        ``"A"``, ``"D50"``, ``"D65"``, ``"FL2"`` (any key of ``colour.SDS_ILLUMINANTS``).
    camera : str
        Spectral sensitivities (key of ``colour.MSDS_CAMERA_SENSITIVITIES``).
    image_size : tuple of int
        ``(width, height)`` in pixels.
    chart_width_frac : float
        Chart width as a fraction of the image width at the nominal pose (``pose.scale``
        multiplies it).
    pose : Pose
        Camera pose; the camera aims at the chart centre (``shift_mm`` moves the aim on
        the chart, e.g. to push part of it out of the frame).
    white_balance : str
        ``"daylight"``: fixed gains making a perfect white neutral under D65 (the
        camera's daylight preset); ``"auto"``: gains from the chart's grey patches under
        the actual illuminant.
    noise_sigma : float
        Sensor noise at full-scale signal (shot noise model of :func:`camera.develop`).
    background : str
        ``"scalp"`` (a rendered crown photo fills the frame behind the chart) or ``"grey"``
        (a spectrally flat 18 % grey backdrop).
    rng : numpy.random.Generator or int
        Randomness (backdrop, texture, noise). The same seed gives the same image.
    bit_depth : int
        8 or 16.
    exposure_ev : float
        Exposure relative to the metered one (0 puts the white patch's largest linear
        channel at 0.85); positive values clip the light patches.
    vignetting : float
        Radial light fall-off at the frame corners (0 = even light on the chart).
    blur_sigma_px : float
        Gaussian lens blur.
    texture : float
        Amplitude of the patches' surface texture (1 = about 1 % luminance variation).
    focal_length_35mm : float
        35 mm-equivalent focal length of the pinhole model.
    spectra : str
        ``"babelcolor"``: the BabelColor average reflectances (a real chart's spectra;
        they differ from the library's X-Rite reference by about 0.8 ΔE00 on average under
        D50, as one chart differs from another). ``"reference"``: those spectra adjusted
        smoothly to match the reference exactly under D50 (isolates the camera and the
        correction from chart-to-chart variation).

    Returns
    -------
    ChartRender
    """
    rng = as_generator(rng)
    w, hh = image_size
    colours = _chart_colours(illuminant, camera, white_balance, spectra)
    cam = colours["camera"]
    exposure = WHITE_LEVEL * 2.0 ** exposure_ev / float(cam[18].max())
    table = np.vstack([cam, colours["frame"][None]]).astype(np.float32) * np.float32(exposure)

    field_width_mm = CHART_WIDTH_MM / chart_width_frac
    centre = (CHART_WIDTH_MM / 2.0, CHART_HEIGHT_MM / 2.0)
    h = scalp_to_image_homography(pose, image_size=image_size, focal_length_35mm=focal_length_35mm,
                                  field_width_mm=field_width_mm, centre_mm=centre)

    # Backdrop, in the same linear camera space.
    if background == "scalp":
        back = _scalp_backdrop(image_size, rng) * colours["cast"].astype(np.float32)
    elif background == "grey":
        back = np.broadcast_to(colours["flat_grey"].astype(np.float32) * np.float32(exposure),
                               (hh, w, 3)).copy()
    else:
        raise ValueError("background must be 'scalp' or 'grey'")

    # Chart: per-pixel labels, exact area shares on edge pixels, paper texture.
    labels, edge_idx, shares = _coverage_weights(h, (hh, w), 25)
    x, y = pixel_scalp_coordinates(h, (hh, w))
    tex_seed = int(rng.integers(0, 2**31 - 1))
    bounds = (-5.0, -5.0, CHART_WIDTH_MM + 5.0, CHART_HEIGHT_MM + 5.0)
    on_chart = labels >= 0
    grain = np.ones((hh, w), np.float32)
    if texture > 0 and on_chart.any():
        xs, ys = x[on_chart], y[on_chart]
        grain[on_chart] = 1.0 + np.float32(texture) * (
            0.008 * value_noise(tex_seed, 1, 0.35, bounds, xs, ys)
            + 0.004 * value_noise(tex_seed, 2, 6.0, bounds, xs, ys))
    img = back.reshape(-1, 3)
    flat_labels = labels.ravel()
    inner = on_chart.ravel().copy()
    inner[edge_idx] = False
    img[inner] = table[flat_labels[inner]] * grain.ravel()[inner, None]
    if len(edge_idx):
        mixed = shares[:, :25] @ table + shares[:, 25:26] * back.reshape(-1, 3)[edge_idx]
        g = grain.ravel()[edge_idx, None]
        chart_share = 1.0 - shares[:, 25:26]
        img[edge_idx] = mixed * np.where(chart_share > 0, g, 1.0)
    img = img.reshape(hh, w, 3)

    if vignetting:
        img *= illumination_field((hh, w), Lighting(vignetting=vignetting))[..., None]
    if blur_sigma_px > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur_sigma_px)
    img = _add_noise(img, noise_sigma, rng)
    image = srgb_encode(img, bit_depth)

    centres_mm = chart_patch_centres_mm()
    half = PATCH_MM / 2.0
    patch_corners = np.concatenate([centres_mm + np.array(d) * half
                                    for d in ((-1, -1), (1, -1), (1, 1), (-1, 1))])
    pc = project_points(h, patch_corners).reshape(4, 24, 2)
    visible = np.all((pc[..., 0] >= 0) & (pc[..., 0] <= w - 1) & (pc[..., 1] >= 0)
                     & (pc[..., 1] <= hh - 1), axis=0)
    ideal = colours["ideal"]
    ideal_scaled = ideal * (WHITE_LEVEL * 2.0 ** exposure_ev / float(ideal[18].max()))
    return ChartRender(
        image=image, chart_to_image=h, corners_px=project_points(h, chart_corners_mm()),
        grid_corners_px=project_points(h, chart_grid_corners_mm()),
        patch_centres_px=project_points(h, centres_mm), patch_visible=visible,
        patch_overexposed=np.any(table[:24] >= 1.0, axis=1),
        reference_lab_d50=np.array(colorchecker24().lab_d50, float),
        spectral_lab_d50=colours["spectral_lab"].copy(), camera_linear_srgb=table[:24].astype(float),
        true_linear_srgb_under_illuminant=ideal_scaled, illuminant=illuminant,
        cct_k=illuminant_cct_k(illuminant), camera=camera, white_balance=white_balance,
        white_balance_gains=colours["gains"].copy(), camera_matrix=colours["matrix"].copy(),
        exposure_scale=float(exposure), pose=pose, focal_length_35mm=focal_length_35mm, spectra=spectra)


def _warp_texture(texture: np.ndarray, tex_to_image: np.ndarray, shape: tuple[int, int],
                  supersample: int) -> tuple[np.ndarray, np.ndarray]:
    """Warp an image texture into a frame with area anti-aliasing.

    Returns the warped texture and its coverage (0..1), both at the frame's resolution.
    Only the texture's bounding box in the frame is supersampled.
    """
    rows, cols = shape
    th, tw = texture.shape[:2]
    outline = project_points(tex_to_image, np.array([[-0.5, -0.5], [tw - 0.5, -0.5],
                                                     [tw - 0.5, th - 0.5], [-0.5, th - 0.5]]))
    x0 = int(np.clip(np.floor(outline[:, 0].min()) - 2, 0, cols))
    x1 = int(np.clip(np.ceil(outline[:, 0].max()) + 3, 0, cols))
    y0 = int(np.clip(np.floor(outline[:, 1].min()) - 2, 0, rows))
    y1 = int(np.clip(np.ceil(outline[:, 1].max()) + 3, 0, rows))
    out = np.zeros((rows, cols, texture.shape[2]), np.float32)
    cover = np.zeros((rows, cols), np.float32)
    if x1 <= x0 or y1 <= y0:
        return out, cover
    s = supersample
    o = (s - 1) / 2.0
    # Box pixel (u, v) -> supersampled box pixel: s * (u - x0) + o.
    to_box = np.array([[s, 0.0, o - s * x0], [0.0, s, o - s * y0], [0.0, 0.0, 1.0]])
    m = to_box @ tex_to_image
    size = ((x1 - x0) * s, (y1 - y0) * s)
    warped = cv2.warpPerspective(texture, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                 borderValue=0)
    ones = np.ones((th, tw), np.float32)
    mask = cv2.warpPerspective(ones, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=0)
    box = (x1 - x0, y1 - y0)
    out[y0:y1, x0:x1] = cv2.resize(warped.astype(np.float32), box, interpolation=cv2.INTER_AREA).reshape(
        y1 - y0, x1 - x0, -1)
    cover[y0:y1, x0:x1] = cv2.resize(mask, box, interpolation=cv2.INTER_AREA)
    return out, cover


def render_project_card_scene(*, image_size: tuple[int, int] = (1600, 1200),
                              px_per_mm_at_card: float = 6.0, pose: Pose = Pose(),
                              focal_length_35mm: float = 50.0,
                              lighting: Lighting = Lighting(), background: str = "scalp",
                              noise_sigma: float = 0.004,
                              rng: np.random.Generator | int | None = 0,
                              blur_sigma_px: float = 0.6, supersample: int = 3
                              ) -> CardRender:
    """Photograph the PS-1 card lying on a plane at a known pose.

    The card (:func:`calibration.project_card.render_card`, drawn at several times the
    scene's resolution) is warped through the pinhole homography into a supersampled
    grid and averaged down; the scene then goes through the project's camera pipeline
    (:func:`camera.develop`: light fall-off, exposure, white balance, blur, noise, sRGB).

    Parameters
    ----------
    image_size : tuple of int
        ``(width, height)``.
    px_per_mm_at_card : float
        Scale at the card centre at the nominal pose (zero tilt, scale 1).
    pose : Pose
        Camera pose; the camera aims at the card centre. Tilt foreshortens the card
        (the truth scale accounts for it).
    focal_length_35mm : float
        35 mm-equivalent focal length (a shorter lens shows more perspective at a tilt).
    lighting : Lighting
        Illumination (vignetting, gradient, exposure, colour).
    background : str
        ``"scalp"`` (a crown photo rendered with the same camera, the card lying on the
        head's plane) or ``"grey"``.
    noise_sigma : float
        Sensor noise at full scale.
    rng : numpy.random.Generator or int
        Randomness (backdrop, noise).
    blur_sigma_px : float
        Lens blur.
    supersample : int
        Anti-aliasing factor for the card's edges.

    Returns
    -------
    CardRender
    """
    rng = as_generator(rng)
    w, hh = image_size
    field_width_mm = w / px_per_mm_at_card
    centre = (CARD_WIDTH_MM / 2.0, CARD_HEIGHT_MM / 2.0)
    h = scalp_to_image_homography(pose, image_size=image_size, focal_length_35mm=focal_length_35mm,
                                  field_width_mm=field_width_mm, centre_mm=centre)
    # Card texture at >= 2 texels per supersampled pixel, an integer px/mm so the
    # markers land on whole texels of render_card.
    tex_ppm = float(max(8, int(np.ceil(2.0 * px_per_mm_at_card * pose.scale * supersample))))
    card = srgb_decode(render_card(tex_ppm)).astype(np.float32)
    # Texel (i, j) covers card mm [i, i + 1) / ppm: its centre is at (i + 0.5) / ppm.
    texel_to_mm = np.array([[1 / tex_ppm, 0.0, 0.5 / tex_ppm], [0.0, 1 / tex_ppm, 0.5 / tex_ppm],
                            [0.0, 0.0, 1.0]])
    warped, cover = _warp_texture(card, h @ texel_to_mm, (hh, w), supersample)

    if background == "scalp":
        # The crown render's own coordinates: its centre is at the scalp origin.
        back = _scalp_backdrop(image_size, rng, pose=pose, field_width_mm=field_width_mm)
    elif background == "grey":
        back = np.full((hh, w, 3), 0.18, np.float32)
    else:
        raise ValueError("background must be 'scalp' or 'grey'")
    radiance = warped + back * (1.0 - cover[..., None])
    image = develop(radiance, lighting, Optics(blur_sigma_px=blur_sigma_px, noise_sigma=noise_sigma),
                    rng)

    layout = card_layout()
    rot, _ = camera_extrinsics(pose, distance_mm=nominal_distance_mm(field_width_mm, image_size,
                                                                      focal_length_35mm),
                               centre_mm=centre)
    tilt = float(np.degrees(np.arccos(np.clip(abs(rot[2, 2]), -1.0, 1.0))))
    corners_mm = np.array([[0.0, 0.0], [CARD_WIDTH_MM, 0.0], [CARD_WIDTH_MM, CARD_HEIGHT_MM],
                           [0.0, CARD_HEIGHT_MM]])
    return CardRender(
        image=image, card_to_image=h,
        mm_per_px_at_card_centre=float(1.0 / local_px_per_mm(h, np.array([centre]))[0]),
        tilt_deg=tilt, corners_px=project_points(h, corners_mm),
        marker_corners_px={i: project_points(h, c) for i, c in layout.marker_corners_mm.items()},
        patch_centres_px=project_points(h, layout.patch_centres_mm), pose=pose, lighting=lighting,
        focal_length_35mm=focal_length_35mm, px_per_mm_at_card=px_per_mm_at_card)


def render_grey_target(*, image_size: tuple[int, int] = (1600, 1200),
                       lighting: Lighting = Lighting(vignetting=0.2, gradient_strength=0.2),
                       optics: Optics = Optics(blur_sigma_px=0.0, noise_sigma=0.004),
                       rng: np.random.Generator | int | None = 0, reflectance: float = 0.45,
                       bit_depth: int = 8) -> GreyRender:
    """Photograph a uniform, spectrally flat grey target filling the frame.

    Parameters
    ----------
    image_size : tuple of int
        ``(width, height)``.
    lighting : Lighting
        Vignetting, gradient, exposure, colour and ambient light of the shot.
    optics : Optics
        Blur and noise.
    rng : numpy.random.Generator or int
        Noise source.
    reflectance : float
        Linear reflectance of the target.
    bit_depth : int
        8 or 16.

    Returns
    -------
    GreyRender
        The truth field is :func:`camera.illumination_field` plus the mean ambient
        light, normalised to mean 1 (with no ambient light it is exactly the relative
        light level of each pixel).
    """
    rng = as_generator(rng)
    w, hh = image_size
    radiance = np.full((hh, w, 3), reflectance, np.float32)
    image = develop(radiance, lighting, optics, rng, bit_depth=bit_depth)
    light = illumination_field((hh, w), lighting) + np.float32(np.mean(lighting.ambient_rgb))
    light = (light / light.mean()).astype(np.float32)
    return GreyRender(image=image, illumination_field=light, reflectance=float(reflectance),
                      lighting=lighting, optics=optics)
