"""Pinhole camera, pose, lighting and sensor simulation shared by the renderers.

The camera is an ideal pinhole (Hartley R., Zisserman A., *Multiple View Geometry in
Computer Vision*, 2nd ed., Cambridge 2004, ch. 6 and 8.1): a plane ``Z = 0`` maps to the
image by the homography ``H = K [r1 r2 t]``. Pixel coordinates have ``x`` to the right,
``y`` down and pixel centres at integers, so the principal point of a ``W x H`` image is
``((W - 1) / 2, (H - 1) / 2)``. The focal length in pixels follows the 35 mm-equivalent
focal length written to EXIF: ``f_px = FocalLengthIn35mmFilm / 36 * W``.

World (scalp) axes: ``X`` right, ``Y`` down, ``Z`` into the scalp; at the nominal pose
the camera looks along ``+Z`` and its axes coincide with the world's.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Pose:
    """Camera placement relative to the nominal (standardised) position.

    Attributes
    ----------
    rotation_deg : float
        Roll about the optical axis. The scalp appears rotated by this angle in the
        image, clockwise on screen (from ``+x`` towards ``+y``).
    tilt_deg : float
        Out-of-plane tilt: the camera orbits the aimed scalp point by this angle.
    tilt_axis_deg : float
        Direction of the tilt axis in the image (0 = horizontal axis, so the top and
        bottom of the frame move; 90 = vertical axis).
    scale : float
        Magnification relative to nominal (> 1 = camera closer, scalp larger).
    shift_mm : tuple of float
        Displacement of the aimed point on the scalp, in scalp millimetres.
    """

    rotation_deg: float = 0.0
    tilt_deg: float = 0.0
    tilt_axis_deg: float = 0.0
    scale: float = 1.0
    shift_mm: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class Lighting:
    """Illumination and white-balance conditions of a shot.

    Attributes
    ----------
    exposure_ev : float
        Exposure change in stops (linear light is multiplied by ``2 ** exposure_ev``).
    white_balance_shift_mired : float
        Colour-temperature change of the light relative to the nominal ~5500 K flash,
        with the camera's white balance fixed; positive = warmer (redder).
    tint : float
        Green-magenta shift: the green gain is multiplied by ``2 ** -tint``
        (positive = magenta).
    gradient_strength : float
        Light fall-off across the frame: the edge in ``gradient_direction_deg`` is darker
        by this fraction (0.5 = that side 50 % darker).
    gradient_direction_deg : float
        Image direction (0 = right, 90 = down) towards which the light falls off.
    vignetting : float
        Radial fall-off at the image corners (fraction).
    glare : float
        0..1: specular highlights on hair shafts and oily skin (wet hair, product);
        large values saturate small areas.
    ambient_rgb : tuple of float
        Extra coloured ambient light, relative to the flash (e.g. ``(0.1, 0.08, 0.03)``
        for warm room light).
    """

    exposure_ev: float = 0.0
    white_balance_shift_mired: float = 0.0
    tint: float = 0.0
    gradient_strength: float = 0.0
    gradient_direction_deg: float = 0.0
    vignetting: float = 0.12
    glare: float = 0.0
    ambient_rgb: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Optics:
    """Lens and sensor imperfections.

    Attributes
    ----------
    blur_sigma_px : float
        Gaussian defocus blur (pixels).
    noise_sigma : float
        Sensor noise standard deviation at full-scale linear signal; it scales with the
        square root of the signal (shot noise) above a read-noise floor.
    jpeg_quality : int
        Quality at which the device saves its JPEG (used by the sample writer).
    """

    blur_sigma_px: float = 0.6
    noise_sigma: float = 0.006
    jpeg_quality: int = 88


NOMINAL_FLASH_K = 5500.0

_XYZ_TO_LINEAR_SRGB = np.array([[3.2406, -1.5372, -0.4986],
                                [-0.9689, 1.8758, 0.0415],
                                [0.0557, -0.2040, 1.0570]])


def focal_length_px(focal_length_35mm: float, image_width_px: int) -> float:
    """Focal length in pixels from the 35 mm-equivalent focal length.

    Parameters
    ----------
    focal_length_35mm : float
        EXIF FocalLengthIn35mmFilm (mm), defined for a 36 mm wide frame.
    image_width_px : int
        Image width.

    Returns
    -------
    float
        ``focal_length_35mm / 36 * image_width_px``.
    """
    return float(focal_length_35mm) / 36.0 * float(image_width_px)


def intrinsic_matrix(image_size: tuple[int, int], focal_length_35mm: float) -> np.ndarray:
    """Camera matrix ``K`` (square pixels, no skew, principal point at the centre).

    Parameters
    ----------
    image_size : tuple of int
        ``(width, height)`` in pixels.
    focal_length_35mm : float
        35 mm-equivalent focal length.

    Returns
    -------
    numpy.ndarray
        3x3 matrix (Hartley & Zisserman 2004, eq. 6.4).
    """
    w, h = image_size
    f = focal_length_px(focal_length_35mm, w)
    return np.array([[f, 0.0, (w - 1) / 2.0], [0.0, f, (h - 1) / 2.0], [0.0, 0.0, 1.0]])


def nominal_distance_mm(field_width_mm: float, image_size: tuple[int, int],
                        focal_length_35mm: float) -> float:
    """Camera-to-plane distance at which the image width covers ``field_width_mm``.

    Parameters
    ----------
    field_width_mm : float
        Plane width to cover.
    image_size : tuple of int
        ``(width, height)`` in pixels.
    focal_length_35mm : float
        35 mm-equivalent focal length.

    Returns
    -------
    float
        Distance in millimetres (similar triangles of the pinhole model).
    """
    return focal_length_px(focal_length_35mm, image_size[0]) * field_width_mm / image_size[0]


def _axis_rotation(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    r, _ = cv2.Rodrigues(np.asarray(axis, float).reshape(3, 1) * angle_rad)
    return r


def camera_extrinsics(pose: Pose, *, distance_mm: float,
                      centre_mm: tuple[float, float] = (0.0, 0.0)
                      ) -> tuple[np.ndarray, np.ndarray]:
    """World-to-camera rotation and translation for a pose.

    Parameters
    ----------
    pose : Pose
        Camera pose relative to nominal.
    distance_mm : float
        Nominal distance from the camera centre to the aimed scalp point.
    centre_mm : tuple of float
        Nominal aimed point on the scalp plane.

    Returns
    -------
    R : numpy.ndarray
        3x3 rotation, ``x_cam = R @ (X - C)``.
    t : numpy.ndarray
        Translation ``-R @ C`` (3,).
    """
    th = np.deg2rad(pose.rotation_deg)
    c, s = np.cos(th), np.sin(th)
    roll = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    a = np.deg2rad(pose.tilt_axis_deg)
    tilt = _axis_rotation(np.array([np.cos(a), np.sin(a), 0.0]), np.deg2rad(pose.tilt_deg))
    rot = tilt @ roll
    aim = np.array([centre_mm[0] + pose.shift_mm[0], centre_mm[1] + pose.shift_mm[1], 0.0])
    # The camera orbits the aimed point: it stays on the optical axis at the distance.
    cam_centre = aim - (distance_mm / pose.scale) * (rot.T @ np.array([0.0, 0.0, 1.0]))
    return rot, -rot @ cam_centre


def scalp_to_image_homography(pose: Pose, *, image_size: tuple[int, int],
                              focal_length_35mm: float, field_width_mm: float,
                              centre_mm: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Homography from scalp-plane millimetres to image pixels, ``H = K [r1 r2 t]``.

    Parameters
    ----------
    pose : Pose
        Camera pose.
    image_size : tuple of int
        ``(width, height)`` in pixels.
    focal_length_35mm : float
        35 mm-equivalent focal length (defines ``K``).
    field_width_mm : float
        Width of scalp covered by the image at the nominal pose.
    centre_mm : tuple of float
        Scalp point at the image centre at the nominal pose.

    Returns
    -------
    numpy.ndarray
        3x3 homography normalised to ``H[2, 2] == 1``.

    References
    ----------
    Hartley & Zisserman (2004), section 8.1.1 (homography induced by a world plane).
    """
    k = intrinsic_matrix(image_size, focal_length_35mm)
    d = nominal_distance_mm(field_width_mm, image_size, focal_length_35mm)
    rot, t = camera_extrinsics(pose, distance_mm=d, centre_mm=centre_mm)
    h = k @ np.column_stack([rot[:, 0], rot[:, 1], t])
    return h / h[2, 2]


def project_points(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a homography to ``(N, 2)`` points.

    Parameters
    ----------
    h : numpy.ndarray
        3x3 homography.
    pts : numpy.ndarray
        ``(..., 2)`` points.

    Returns
    -------
    numpy.ndarray
        Mapped points, same shape.
    """
    p = np.asarray(pts, float)
    flat = p.reshape(-1, 2)
    q = flat @ h[:, :2].T + h[:, 2]
    return (q[:, :2] / q[:, 2:3]).reshape(p.shape)


def local_px_per_mm(h: np.ndarray, pts_mm: np.ndarray) -> np.ndarray:
    """Isotropic local scale of a scalp-to-image homography (sqrt of the Jacobian).

    Parameters
    ----------
    h : numpy.ndarray
        Scalp-to-image homography.
    pts_mm : numpy.ndarray
        ``(N, 2)`` scalp points.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` pixels per millimetre at those points.
    """
    p = np.atleast_2d(np.asarray(pts_mm, float))
    w = p @ h[2, :2] + h[2, 2]
    # det of the Jacobian of a homography is det(H) / w^3.
    return np.sqrt(np.abs(np.linalg.det(h)) / np.abs(w) ** 3)


def mm_per_px_at_centre(h: np.ndarray, image_size: tuple[int, int]) -> float:
    """Scalp millimetres per pixel at the image centre.

    Parameters
    ----------
    h : numpy.ndarray
        Scalp-to-image homography.
    image_size : tuple of int
        ``(width, height)``.

    Returns
    -------
    float
    """
    c = np.array([[(image_size[0] - 1) / 2.0, (image_size[1] - 1) / 2.0]])
    centre_mm = project_points(np.linalg.inv(h), c)
    return float(1.0 / local_px_per_mm(h, centre_mm)[0])


def frame_footprint_mm(h: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """The image frame (outer pixel edges) projected onto the scalp plane.

    Parameters
    ----------
    h : numpy.ndarray
        Scalp-to-image homography.
    image_size : tuple of int
        ``(width, height)``.

    Returns
    -------
    numpy.ndarray
        ``(4, 2)`` scalp-plane corners, clockwise on screen from the top-left.
    """
    w, hh = image_size
    corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, hh - 0.5], [-0.5, hh - 0.5]])
    return project_points(np.linalg.inv(h), corners)


def polygon_area(poly: np.ndarray) -> float:
    """Area of a simple polygon (shoelace formula).

    Parameters
    ----------
    poly : numpy.ndarray
        ``(N, 2)`` vertices in order.

    Returns
    -------
    float
        Area in squared units of the vertices.
    """
    x, y = np.asarray(poly, float).T
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def supersample_matrix(factor: int) -> np.ndarray:
    """Map image pixel coordinates to a ``factor``-times finer grid (centres preserved).

    A ``cv2.resize(..., INTER_AREA)`` by ``1 / factor`` maps that grid back exactly.

    Parameters
    ----------
    factor : int
        Supersampling factor.

    Returns
    -------
    numpy.ndarray
        3x3 matrix to left-multiply onto an image homography.
    """
    o = (factor - 1) / 2.0
    return np.array([[factor, 0.0, o], [0.0, factor, o], [0.0, 0.0, 1.0]])


def pixel_scalp_coordinates(h: np.ndarray, shape: tuple[int, int]
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Scalp-plane coordinates (mm) of every pixel centre of an image.

    Parameters
    ----------
    h : numpy.ndarray
        Scalp-to-image homography of that image grid.
    shape : tuple of int
        ``(rows, cols)``.

    Returns
    -------
    x_mm, y_mm : numpy.ndarray
        float32 arrays of the given shape.
    """
    hi = np.linalg.inv(h).astype(np.float64)
    rows, cols = shape
    u = np.arange(cols, dtype=np.float64)[None, :]
    v = np.arange(rows, dtype=np.float64)[:, None]
    w = hi[2, 0] * u + hi[2, 1] * v + hi[2, 2]
    x = ((hi[0, 0] * u + hi[0, 1] * v + hi[0, 2]) / w).astype(np.float32)
    y = ((hi[1, 0] * u + hi[1, 1] * v + hi[1, 2]) / w).astype(np.float32)
    return x, y


def planckian_xy(temperature_k: float) -> tuple[float, float]:
    """CIE 1931 chromaticity of a black body (cubic-spline approximation).

    Parameters
    ----------
    temperature_k : float
        Colour temperature, 1667-25000 K.

    Returns
    -------
    tuple of float
        ``(x, y)``.

    References
    ----------
    Kim Y.-S., Cho B.-H., Kang B.-S., Hong D.-I., "Color temperature conversion system
    and method using the same", US patent 7,024,034 (2006); Kim et al., IEEE Trans.
    Consumer Electronics 48(3), 2002.
    """
    t = float(np.clip(temperature_k, 1667.0, 25000.0))
    if t <= 4000.0:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t <= 2222.0:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000.0:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    return float(x), float(y)


def _illuminant_rgb(temperature_k: float) -> np.ndarray:
    x, y = planckian_xy(temperature_k)
    xyz = np.array([x / y, 1.0, (1.0 - x - y) / y])
    return _XYZ_TO_LINEAR_SRGB @ xyz


def white_balance_gains(shift_mired: float, tint: float = 0.0) -> np.ndarray:
    """Per-channel linear-RGB gains of a light whose colour temperature has shifted.

    Parameters
    ----------
    shift_mired : float
        Change in mired (1e6 / K) relative to the nominal 5500 K flash; positive =
        lower temperature = warmer light.
    tint : float
        Green-magenta shift (green gain ``2 ** -tint``).

    Returns
    -------
    numpy.ndarray
        ``(3,)`` gains, green = 1 before the tint.
    """
    nominal_mired = 1e6 / NOMINAL_FLASH_K
    t_new = 1e6 / max(nominal_mired + shift_mired, 40.0)
    g = _illuminant_rgb(t_new) / _illuminant_rgb(NOMINAL_FLASH_K)
    g = g / g[1]
    g[1] *= 2.0 ** (-tint)
    return g


def illumination_field(shape: tuple[int, int], lighting: Lighting) -> np.ndarray:
    """Relative light level over the frame: vignetting times the directional gradient.

    Parameters
    ----------
    shape : tuple of int
        ``(rows, cols)``.
    lighting : Lighting
        Uses ``vignetting``, ``gradient_strength`` and ``gradient_direction_deg``.

    Returns
    -------
    numpy.ndarray
        float32 ``(rows, cols)`` factor in ``(0, 1]``.
    """
    rows, cols = shape
    u = (np.arange(cols, dtype=np.float32) - (cols - 1) / 2.0)[None, :]
    v = (np.arange(rows, dtype=np.float32) - (rows - 1) / 2.0)[:, None]
    half_diag = np.hypot(cols / 2.0, rows / 2.0)
    field = 1.0 - lighting.vignetting * (u**2 + v**2) / half_diag**2
    if lighting.gradient_strength:
        a = np.deg2rad(lighting.gradient_direction_deg)
        ca, sa = np.cos(a), np.sin(a)
        # Normalise so the frame corners furthest along the direction reach +-1.
        extent = abs(ca) * cols / 2.0 + abs(sa) * rows / 2.0
        p = (ca * u + sa * v) / extent
        field = field * (1.0 - lighting.gradient_strength * (p + 1.0) / 2.0)
    return np.asarray(field, np.float32)


def srgb_encode(linear: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """Encode linear RGB in ``[0, 1]`` with the sRGB transfer function and quantise.

    Parameters
    ----------
    linear : numpy.ndarray
        Linear-light image (values are clipped to ``[0, 1]``).
    bit_depth : int
        8 (uint8) or 16 (uint16).

    Returns
    -------
    numpy.ndarray
        Encoded image.

    References
    ----------
    IEC 61966-2-1:1999, sRGB colour space.
    """
    x = np.clip(linear, 0.0, 1.0)
    if x.dtype != np.float64:
        x = x.astype(np.float32)
    # float32 keeps 16-bit codes exact to < 0.1 LSB over [0, 1].
    e = np.where(x <= 0.0031308, x * 12.92, np.power(x, 1.0 / 2.4) * 1.055 - 0.055)
    if bit_depth == 8:
        return np.round(e * 255.0).astype(np.uint8)
    if bit_depth == 16:
        return np.round(e * 65535.0).astype(np.uint16)
    raise ValueError("bit_depth must be 8 or 16")


def srgb_decode(image: np.ndarray) -> np.ndarray:
    """Inverse of :func:`srgb_encode` (IEC 61966-2-1).

    Parameters
    ----------
    image : numpy.ndarray
        uint8 or uint16 sRGB image.

    Returns
    -------
    numpy.ndarray
        Linear light, float64 in ``[0, 1]``.
    """
    scale = 255.0 if image.dtype == np.uint8 else 65535.0
    e = image.astype(np.float64) / scale
    return np.where(e <= 0.04045, e / 12.92, ((e + 0.055) / 1.055) ** 2.4)


GLARE_GAIN = 6.0


def develop(radiance: np.ndarray, lighting: Lighting, optics: Optics,
            rng: np.random.Generator, *, specular: np.ndarray | None = None,
            bit_depth: int = 8) -> np.ndarray:
    """Turn scene reflectance into a camera image.

    Order: illumination (flash fall-off, gradient, coloured ambient), glare, exposure,
    light colour (white balance), defocus, sensor noise, sRGB encoding.

    Parameters
    ----------
    radiance : numpy.ndarray
        ``(H, W, 3)`` linear scene reflectance under the nominal flash.
    lighting : Lighting
        Illumination conditions.
    optics : Optics
        Blur and noise (JPEG quality is applied when saving, not here).
    rng : numpy.random.Generator
        Noise source.
    specular : numpy.ndarray, optional
        ``(H, W)`` strength of specular reflection; scaled by ``lighting.glare``.
    bit_depth : int
        8 or 16.

    Returns
    -------
    numpy.ndarray
        uint8 or uint16 sRGB image.
    """
    field = illumination_field(radiance.shape[:2], lighting)
    light = field[..., None] + np.asarray(lighting.ambient_rgb, np.float32)
    img = radiance.astype(np.float32) * light
    if specular is not None and lighting.glare > 0:
        gain = np.float32(lighting.glare * GLARE_GAIN)
        img += (gain * specular.astype(np.float32) * field)[..., None]
    img *= np.float32(2.0 ** lighting.exposure_ev)
    img *= white_balance_gains(lighting.white_balance_shift_mired,
                               lighting.tint).astype(np.float32)
    if optics.blur_sigma_px > 0:
        img = cv2.GaussianBlur(img, (0, 0), optics.blur_sigma_px)
    if optics.noise_sigma > 0:
        sd = np.float32(optics.noise_sigma) * np.sqrt(np.clip(img, 0.0, None) + np.float32(0.01))
        img = img + sd * rng.standard_normal(img.shape, dtype=np.float32)
    return srgb_encode(img, bit_depth)


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Accept a Generator or an integer seed (None means seed 0, for reproducibility).

    Parameters
    ----------
    rng : numpy.random.Generator, int or None
        Generator (used as is) or seed.

    Returns
    -------
    numpy.random.Generator
    """
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(0 if rng is None else int(rng))
