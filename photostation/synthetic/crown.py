"""Top-down crown (vertex) photograph of a head, with hair-coverage ground truth.

The head is modelled on a plane: the vertex region as seen from above (an orthographic
projection onto the plane tangent to the top of the head), so the returned homography
is exact for the rendered image while the dome is conveyed by shading only (Lambertian
fall-off towards the rim, a soft flash highlight on the skin, anisotropic sheen on hair
after Kajiya J.T., Kay T.L., "Rendering fur with three dimensional textures",
SIGGRAPH 1989). A real head departs from the plane away from the vertex.

Hair is drawn as thousands of thin strands (locks) that follow a spiral flow field
around the parietal whorl; pattern hair loss thins the strands towards the whorl so the
skin shows through (Norwood-Hamilton vertex thinning; Olsen E.A., "Female pattern hair
loss", J Am Acad Dermatol 2001;45:S70-S80 for the crown-centred density fall-off).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from .camera import (Lighting, Optics, Pose, as_generator, develop, local_px_per_mm,
                     mm_per_px_at_centre, pixel_scalp_coordinates, project_points,
                     scalp_to_image_homography, supersample_matrix)
from .scene import HAIR_COLOUR_PIGMENT, hair_albedo, skin_albedo, value_noise

CROWN_FOCAL_LENGTH_35MM = 50.0
_SHIFT = 4
_FIX = float(1 << _SHIFT)


@dataclass(frozen=True)
class CrownHead:
    """A head seen from above, in plane millimetres (origin at the head centre,
    ``x`` to the patient's right as seen from above, ``y`` towards the occiput).

    Attributes
    ----------
    head_width_mm, head_length_mm : float
        Breadth and front-back length of the head outline.
    whorl_mm : tuple of float
        Position of the parietal whorl (hair spiral centre).
    whorl_clockwise : bool
        Turning sense of the spiral.
    spiral_deg : float
        How far the hair stream turns from radial near the whorl.
    thinning_radius_mm : float
        Radius of the thinning zone around the whorl.
    thinning_severity : float
        0 = no thinning; 1 = no hair at the whorl.
    strand_density_per_cm2 : float
        Drawn strands (fine locks) per cm2 where hair is full.
    strand_length_mm : tuple of float
        Range of visible strand lengths.
    strand_width_mm : tuple of float
        Range of strand widths (1-3 px at 1600 px across a 260 mm field).
    hair_colour : str
        Key of :data:`photostation.synthetic.scene.HAIR_COLOUR_PIGMENT`.
    grey_share : float
        Fraction of white strands.
    skin_melanin, skin_redness : float
        Scalp skin tone, 0..1.
    seed : int
        Fixes the strand pool, so follow-ups keep the same hairstyle where hair persists.
    """

    head_width_mm: float = 152.0
    head_length_mm: float = 192.0
    whorl_mm: tuple[float, float] = (7.0, 30.0)
    whorl_clockwise: bool = True
    spiral_deg: float = 55.0
    thinning_radius_mm: float = 42.0
    thinning_severity: float = 0.75
    strand_density_per_cm2: float = 75.0
    strand_length_mm: tuple[float, float] = (22.0, 60.0)
    strand_width_mm: tuple[float, float] = (0.15, 0.36)
    hair_colour: str = "dark_brown"
    grey_share: float = 0.0
    skin_melanin: float = 0.2
    skin_redness: float = 0.25
    seed: int = 0


@dataclass(frozen=True, eq=False)
class CrownRender:
    """A rendered crown photo and its truth.

    Attributes
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` sRGB uint8 or uint16.
    scalp_to_image : numpy.ndarray
        3x3 homography from the head plane (mm) to pixels. The crown is a planar
        approximation of the head (the plane tangent at the vertex); for this synthetic
        image it is exact, for a real head only near the vertex.
    scalp_mask : numpy.ndarray
        ``(H, W)`` bool, head (scalp) region inside the frame.
    hair_mask : numpy.ndarray
        ``(H, W)`` bool, pixels at least half covered by hair.
    coverage_pct : float
        Hair pixels inside the scalp mask / scalp-mask pixels, in percent.
    mm_per_px : float
        Plane millimetres per pixel at the image centre.
    whorl_px : numpy.ndarray
        ``(2,)`` whorl position in the image.
    strand_count : int
        Strands drawn.
    """

    image: np.ndarray
    scalp_to_image: np.ndarray
    scalp_mask: np.ndarray
    hair_mask: np.ndarray
    coverage_pct: float
    mm_per_px: float
    whorl_px: np.ndarray
    strand_count: int
    head: CrownHead = field(default_factory=CrownHead)
    pose: Pose = field(default_factory=Pose)
    lighting: Lighting = field(default_factory=Lighting)
    optics: Optics = field(default_factory=Optics)


def relative_density(head: CrownHead, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
    """Hair density relative to full density: falls towards the whorl.

    Parameters
    ----------
    head : CrownHead
        Head model.
    x_mm, y_mm : numpy.ndarray
        Plane coordinates.

    Returns
    -------
    numpy.ndarray
        Values in ``[1 - severity, 1]``.
    """
    r = np.hypot(x_mm - head.whorl_mm[0], y_mm - head.whorl_mm[1])
    return 1.0 - head.thinning_severity * np.exp(-((r / head.thinning_radius_mm) ** 2.5))


# Seen from above a head is egg-shaped: broader over the parietal bones than the forehead.
_EGG = 0.07


def _half_width(head: CrownHead, y: np.ndarray) -> np.ndarray:
    """Half-breadth of the outline at ``y`` (front narrower, back broader).

    Parameters
    ----------
    head : CrownHead
        Head model.
    y : numpy.ndarray
        Front-back plane coordinate (mm).

    Returns
    -------
    numpy.ndarray
        Half-breadth in mm.
    """
    return head.head_width_mm / 2 * (1 + _EGG * np.clip(y / (head.head_length_mm / 2), -1, 1))


def _ellipse_rho(head: CrownHead, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Normalised radius: < 1 inside the head outline, 1 on it."""
    return np.hypot(x / _half_width(head, y), y / (head.head_length_mm / 2))


def head_outline_mm(head: CrownHead, n: int = 720) -> np.ndarray:
    """Points of the head outline on the plane.

    Parameters
    ----------
    head : CrownHead
        Head model.
    n : int
        Number of points.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` millimetres, counter-clockwise from the patient's right.
    """
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    y = head.head_length_mm / 2 * np.sin(t)
    return np.stack([_half_width(head, y) * np.cos(t), y], 1)


def flow_direction(head: CrownHead, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
    """Unit direction in which hair lies at plane points.

    A spiral around the whorl (turning angle decaying with distance) blending into a
    fall outwards over the sides of the head near the outline.

    Parameters
    ----------
    head : CrownHead
        Head model.
    x_mm, y_mm : numpy.ndarray
        Plane coordinates.

    Returns
    -------
    numpy.ndarray
        ``(..., 2)`` unit vectors.
    """
    dx, dy = x_mm - head.whorl_mm[0], y_mm - head.whorl_mm[1]
    r = np.sqrt(dx * dx + dy * dy) + 1e-6
    erx, ery = dx / r, dy / r
    sense = 1.0 if head.whorl_clockwise else -1.0
    phi = np.deg2rad(head.spiral_deg) * np.exp(-r / 45.0)
    c, s = np.cos(phi), sense * np.sin(phi)
    vx, vy = c * erx - s * ery, c * ery + s * erx  # radial turned by phi (spiral)
    a2, b2 = _half_width(head, y_mm) ** 2, (head.head_length_mm / 2) ** 2
    qx, qy = x_mm / a2, y_mm / b2
    qn = np.sqrt(qx * qx + qy * qy) + 1e-9
    beta = np.clip((_ellipse_rho(head, x_mm, y_mm) - 0.55) / 0.45, 0, 1) ** 2
    vx = (1 - beta) * vx + beta * qx / qn
    vy = (1 - beta) * vy + beta * qy / qn
    norm = np.sqrt(vx * vx + vy * vy) + 1e-9
    return np.stack([vx / norm, vy / norm], -1)


@dataclass(frozen=True)
class CrownStrands:
    """Strand centrelines ``points`` (N, K, 2) in plane mm, with per-strand width (mm),
    pigment (0..1), tone (brightness factor) and gloss (specular factor)."""

    points: np.ndarray   # (N, K, 2) plane mm
    width_mm: np.ndarray  # (N,)
    pigment: np.ndarray  # (N,)
    tone: np.ndarray     # (N,)
    gloss: np.ndarray    # (N,)


def strand_pool(head: CrownHead) -> CrownStrands:
    """All strands present on a head (deterministic from ``head.seed``).

    A fixed pool of candidate roots is drawn from the seed; a candidate exists when its
    uniform mark is below the relative density at its root, so a follow-up head with a
    different thinning keeps every strand that survives in the same place.

    Parameters
    ----------
    head : CrownHead
        Head model.

    Returns
    -------
    CrownStrands
        Strand centrelines and attributes.
    """
    rng = np.random.default_rng([head.seed, 1])
    a, b = head.head_width_mm / 2, head.head_length_mm / 2
    area_cm2 = np.pi * a * b / 100.0
    n_pool = int(head.strand_density_per_cm2 * area_cm2)
    rr = 0.985 * np.sqrt(rng.random(n_pool))
    ang = rng.uniform(0, 2 * np.pi, n_pool)
    ry = b * rr * np.sin(ang)
    roots = np.stack([_half_width(head, ry) * rr * np.cos(ang), ry], 1)
    mark = rng.random(n_pool)
    short = rng.random(n_pool) < 0.15  # regrowing / miniaturised hairs: short, fine
    length = rng.uniform(*head.strand_length_mm, n_pool)
    length[short] = rng.uniform(2.0, 9.0, short.sum())
    width = rng.uniform(*head.strand_width_mm, n_pool)
    width[short] *= 0.6
    base = HAIR_COLOUR_PIGMENT.get(head.hair_colour, 0.86)
    grey_share = head.grey_share or (0.5 if head.hair_colour == "grey" else 0.0)
    pigment = np.clip(base + rng.normal(0, 0.05, n_pool), 0, 1)
    grey = rng.random(n_pool) < grey_share
    pigment[grey] = rng.uniform(0.0, 0.1, grey.sum())
    tone = rng.uniform(0.75, 1.25, n_pool)
    gloss = rng.uniform(0.5, 1.5, n_pool)
    flyaway = rng.random(n_pool) < 0.012
    bias = rng.normal(0, 0.12, n_pool)
    amp = rng.normal(0, 0.18, n_pool)
    wl = rng.uniform(15.0, 45.0, n_pool)
    ph = rng.uniform(0, 2 * np.pi, n_pool)

    rel = relative_density(head, roots[:, 0], roots[:, 1])
    keep = mark < rel
    # Miniaturising hair in the thinning zone is also shorter.
    length *= 0.45 + 0.55 * rel
    roots, length, width = roots[keep], length[keep], width[keep]
    pigment, tone, gloss, bias, amp, wl, ph = (
        v[keep] for v in (pigment, tone, gloss, bias, amp, wl, ph))
    # A few stray hairs near the rim stand off the head and cross the silhouette.
    flyaway = flyaway[keep] & (_ellipse_rho(head, roots[:, 0], roots[:, 1]) > 0.85)
    length[flyaway] *= 0.45
    k = 18
    pts = np.empty((len(roots), k + 1, 2))
    pts[:, 0] = roots
    step = length / k
    alive = np.ones(len(roots), bool)
    for j in range(k):
        p = pts[:, j]
        d = flow_direction(head, p[:, 0], p[:, 1])
        # Down the sides the strand turns away from the camera: its projection shortens.
        nz = _dome(head, p[:, 0], p[:, 1])[0][:, 2]
        w = bias + amp * np.sin(2 * np.pi * j * step / wl + ph)
        c, s = np.cos(w), np.sin(w)
        d = np.stack([c * d[:, 0] - s * d[:, 1], s * d[:, 0] + c * d[:, 1]], 1)
        # Past the outline hair falls away from view: the strand ends at the silhouette.
        alive &= (_ellipse_rho(head, p[:, 0], p[:, 1]) < 1.01) | flyaway
        fore = np.where(flyaway, 0.6, np.clip(nz, 0.04, 1.0))
        pts[:, j + 1] = p + (step * alive * fore)[:, None] * d
    return CrownStrands(points=pts, width_mm=width, pigment=pigment, tone=tone, gloss=gloss)


def expected_coverage_pct(head: CrownHead) -> float:
    """Approximate hair coverage of the head outline (for steering follow-ups).

    Uses a Boolean (Poisson line) model: the covered fraction at a point is
    ``1 - exp(-density * mean_length * mean_width)`` with the local strand density
    (Stoyan D., Kendall W.S., Mecke J., *Stochastic Geometry and its Applications*,
    Wiley 1995, ch. 3).

    Parameters
    ----------
    head : CrownHead
        Head model.

    Returns
    -------
    float
        Percent of the head area covered by hair (approximate).
    """
    a, b = head.head_width_mm / 2, head.head_length_mm / 2
    g = np.linspace(-1, 1, 121)
    x, y = np.meshgrid(g * a * (1 + _EGG), g * b)
    inside = _ellipse_rho(head, x, y) < 1
    lam = head.strand_density_per_cm2 / 100.0 * relative_density(head, x, y)
    rel = relative_density(head, x, y)
    mean_len = (0.85 * np.mean(head.strand_length_mm) + 0.15 * 5.5) * (0.45 + 0.55 * rel)
    cov = 1 - np.exp(-lam * mean_len * np.mean(head.strand_width_mm) * 0.55)
    return float(100.0 * cov[inside].mean())


def evolve_crown(head: CrownHead, rng: np.random.Generator, coverage_change_pts: float,
                 *, days: float = 182.0) -> CrownHead:
    """The same head at a follow-up visit, with hair coverage changed.

    The thinning severity (and, for large changes, the thinning radius) is solved so the
    modelled coverage changes by ``coverage_change_pts``; the strand pool is unchanged so
    surviving strands stay in place. The realised change must be read from the renders
    (``CrownRender.coverage_pct``), which also depend on the pose.

    Parameters
    ----------
    head : CrownHead
        Baseline head.
    rng : numpy.random.Generator
        Small natural variation of the thinning zone.
    coverage_change_pts : float
        Wanted change in hair coverage (percentage points; negative = further loss).
    days : float
        Interval, recorded only through the regrowth it allows.

    Returns
    -------
    CrownHead
    """
    radius = head.thinning_radius_mm * float(np.clip(rng.normal(1.0, 0.02), 0.95, 1.05))
    base = replace(head, thinning_radius_mm=radius)
    target = expected_coverage_pct(head) + coverage_change_pts
    lo, hi = 0.0, 1.0
    for _ in range(40):  # coverage falls monotonically with severity
        mid = (lo + hi) / 2
        if expected_coverage_pct(replace(base, thinning_severity=mid)) > target:
            lo = mid
        else:
            hi = mid
    return replace(base, thinning_severity=float((lo + hi) / 2))


def _dome(head: CrownHead, x: np.ndarray, y: np.ndarray, height_mm: float = 95.0):
    """Normal of a cap over the outline (z towards the camera) and the height gradient.

    The cap is ``z = height * sqrt(1 - rho^2)``; the slow change of the egg-shaped
    half-width with ``y`` is ignored in the gradient (it only affects shading).
    """
    a, b = _half_width(head, y), head.head_length_mm / 2
    rho2 = np.clip((x / a) ** 2 + (y / b) ** 2, 0, 0.985)
    root = np.sqrt(1 - rho2)
    gx = -height_mm * x / a**2 / root  # dz/dx
    gy = -height_mm * y / b**2 / root
    n = np.stack([-gx, -gy, np.ones_like(gx)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return n, gx, gy


def render_crown(head: CrownHead, pose: Pose = Pose(), lighting: Lighting = Lighting(),
                 optics: Optics = Optics(), *, image_size: tuple[int, int] = (1600, 1200),
                 field_width_mm: float = 260.0,
                 focal_length_35mm: float = CROWN_FOCAL_LENGTH_35MM,
                 rng: np.random.Generator | int | None = 0, supersample: int = 2,
                 bit_depth: int = 8, centre_mm: tuple[float, float] = (0.0, 4.0)
                 ) -> CrownRender:
    """Render a top-down studio photo of the crown.

    Parameters
    ----------
    head : CrownHead
        Head model.
    pose, lighting, optics : Pose, Lighting, Optics
        Shot conditions.
    image_size : tuple of int
        ``(width, height)``.
    field_width_mm : float
        Plane width covered at the nominal pose.
    focal_length_35mm : float
        35 mm-equivalent focal length (intrinsics; 50 mm on a full-frame body).
    rng : numpy.random.Generator or int
        Sensor noise.
    supersample : int
        Anti-aliasing factor for the strands.
    bit_depth : int
        8 or 16.
    centre_mm : tuple of float
        Aimed plane point at the nominal pose.

    Returns
    -------
    CrownRender
    """
    rng = as_generator(rng)
    w, hh = image_size
    h = scalp_to_image_homography(pose, image_size=image_size,
                                  focal_length_35mm=focal_length_35mm,
                                  field_width_mm=field_width_mm, centre_mm=centre_mm)
    ss = supersample
    hs = supersample_matrix(ss) @ h
    shape_ss = (hh * ss, w * ss)
    a, b = head.head_width_mm / 2, head.head_length_mm / 2

    # Head outline: exact scalp mask (pixel centres) and an anti-aliased matte.
    outline_px = project_points(h, head_outline_mm(head))
    poly = [np.round(outline_px * _FIX).astype(np.int32)]
    scalp_mask = np.zeros((hh, w), np.uint8)
    cv2.fillPoly(scalp_mask, poly, 1, cv2.LINE_8, _SHIFT)
    matte = np.zeros((hh, w), np.uint8)
    cv2.fillPoly(matte, poly, 255, cv2.LINE_AA, _SHIFT)
    matte = matte.astype(np.float32) / 255.0

    # Skin and backdrop at output resolution.
    x, y = pixel_scalp_coordinates(h, (hh, w))
    n, gx, gy = _dome(head, x, y)
    bounds = (-a - 20, -b - 20, a + 20, b + 20)
    mott = 1 + 0.06 * value_noise(head.seed, 3, 6.0, bounds, x, y) + 0.03 * value_noise(
        head.seed, 4, 0.8, bounds, x, y)
    lambert = (0.18 + 0.82 * n[..., 2] ** 1.3).astype(np.float32)
    skin = skin_albedo(head.skin_melanin, head.skin_redness)
    skin = (1.1 * (0.85 * skin + 0.15 * skin.mean())).astype(np.float32)  # flash washes out
    half = n + np.array([0.0, -0.12, 1.0], np.float32)  # flash slightly above the lens axis
    half /= np.linalg.norm(half, axis=-1, keepdims=True)
    highlight = (np.clip((n * half).sum(-1), 0, 1) ** 60 * 0.55).astype(np.float32)
    skin_rgb = skin * (mott * lambert)[..., None] + highlight[..., None] * 0.35
    v = (np.arange(hh, dtype=np.float32) / hh)[:, None, None]
    backdrop = np.array([0.020, 0.022, 0.026], np.float32) * (1.2 - 0.4 * v) * (
        1 + 0.04 * value_noise(head.seed, 5, 12.0, (-400, -400, 400, 400), x, y))[..., None]
    # Hair shading terms vary smoothly: evaluate them per output pixel, gather per strand
    # pixel below. Kajiya-Kay: specular ~ sin(tangent, view)^p; the strand tangent follows
    # the flow field lifted onto the dome.
    tan = flow_direction(head, x, y)
    tz = gx * tan[..., 0] + gy * tan[..., 1]
    sheen_px = ((1 - tz**2 / (1 + tz**2)) ** 12 * n[..., 2]).astype(np.float32).ravel()
    dome_px = (0.15 + 0.85 * n[..., 2] ** 1.2).astype(np.float32).ravel()

    # Strands on the supersampled grid, painter's order.
    strands = strand_pool(head)
    idmap = np.full(shape_ss, -1, np.int32)
    px_per_mm_ss = float(local_px_per_mm(hs, [[0.0, 0.0]])[0])
    pts_px = project_points(hs, strands.points)
    thick = np.maximum(1, np.round(strands.width_mm * px_per_mm_ss)).astype(int)
    fixed = np.round(pts_px * _FIX).astype(np.int32)
    vis = ((pts_px[..., 0].max(1) > -20) & (pts_px[..., 0].min(1) < shape_ss[1] + 20)
           & (pts_px[..., 1].max(1) > -20) & (pts_px[..., 1].min(1) < shape_ss[0] + 20))
    for i in np.flatnonzero(vis):
        cv2.polylines(idmap, [fixed[i]], False, int(i), int(thick[i]), cv2.LINE_8, _SHIFT)
    rows, cols = np.nonzero(idmap >= 0)
    ids = idmap[rows, cols]
    out_px = (rows // ss) * w + cols // ss
    depth = 0.6 + 0.4 * ids / max(len(strands.tone) - 1, 1)  # later strands lie on top
    albedo = hair_albedo(strands.pigment).astype(np.float32)[ids]
    # Dark hair needs the flash to lift it; light hair is already bright (and translucent).
    lift = 0.75 + 0.55 * strands.pigment[ids]
    shade = (lift * strands.tone[ids] * depth).astype(np.float32) * dome_px[out_px]
    spec = 0.04 * strands.gloss[ids].astype(np.float32) * sheen_px[out_px]
    # The cuticle reflects nearly white light, slightly warmed by the shaft.
    colour = albedo * shade[:, None] + spec[:, None] * np.array([1.0, 0.92, 0.82], np.float32)
    rgb_ss = np.zeros(shape_ss + (3,), np.float32)
    rgb_ss[rows, cols] = colour
    spec_ss = np.zeros(shape_ss, np.float32)
    spec_ss[rows, cols] = spec
    cov_ss = (idmap >= 0).astype(np.float32)
    size = (w, hh)
    cov = cv2.resize(cov_ss, size, interpolation=cv2.INTER_AREA)
    hair_rgb = cv2.resize(rgb_ss, size, interpolation=cv2.INTER_AREA)
    hair_spec = cv2.resize(spec_ss, size, interpolation=cv2.INTER_AREA)

    # Skin between strands is shaded by the hair around it (ambient occlusion).
    occlusion = 1.0 - 0.93 * cv2.GaussianBlur(cov, (0, 0), 3.0) ** 1.5
    ground = skin_rgb * occlusion[..., None] * matte[..., None] + backdrop * (1 - matte[..., None])
    radiance = ground * (1 - cov[..., None]) + hair_rgb
    specular = hair_spec * 3.0 + highlight * matte * (1 - cov)
    image = develop(radiance, lighting, optics, rng, specular=specular, bit_depth=bit_depth)

    scalp = scalp_mask.astype(bool)
    hair_mask = cov >= 0.5
    coverage = 100.0 * float((hair_mask & scalp).sum()) / max(int(scalp.sum()), 1)
    return CrownRender(
        image=image, scalp_to_image=h, scalp_mask=scalp, hair_mask=hair_mask,
        coverage_pct=coverage, mm_per_px=mm_per_px_at_centre(h, image_size),
        whorl_px=project_points(h, np.array(head.whorl_mm, float)[None])[0],
        strand_count=int(len(strands.tone)), head=head, pose=pose, lighting=lighting,
        optics=optics)
