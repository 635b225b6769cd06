"""Trichoscopy close-up renderer: a polarised video-dermatoscope image at ~20x.

The scene (skin texture, follicular openings, capillaries, hair shafts) is defined in
scalp-plane millimetres and mapped into the image through the exact pinhole homography of
:mod:`photostation.synthetic.camera`; hairs are drawn on a supersampled grid and averaged
down (anti-aliasing), the skin is evaluated per output pixel. The returned truth
(homography, emergence points, widths, densities) is the geometry actually drawn.

Appearance follows the trichoscopy atlas of Rudnicka L., Olszewska M., Rakowska A.
(*Atlas of Trichoscopy*, Springer 2012): pink-beige interfollicular skin with a fine
furrow network, thin red arborising and comma vessels, brown follicular openings with a
faint peripilar halo, yellow dots and empty openings, pinpoint white dots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.spatial import Voronoi
from skimage.measure import points_in_poly

from .camera import (Lighting, Optics, Pose, as_generator, develop, frame_footprint_mm,
                     local_px_per_mm, mm_per_px_at_centre, pixel_scalp_coordinates,
                     polygon_area, project_points, scalp_to_image_homography,
                     supersample_matrix)
from .scene import VELLUS_MAX_WIDTH_UM, ScalpPatch, hair_albedo, skin_albedo, value_noise

TRICHO_FOCAL_LENGTH_35MM = 40.0
_SHIFT = 4  # cv2 sub-pixel bits: coordinates are passed as round(x * 16)
_FIX = float(1 << _SHIFT)


@dataclass(frozen=True, eq=False)
class Render:
    """A rendered trichoscopy image with its exact ground truth.

    Per-hair arrays cover hairs whose emergence point lies inside the frame.

    Attributes
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` sRGB, uint8 or uint16.
    scalp_to_image : numpy.ndarray
        3x3 homography, scalp mm -> image pixels, used for drawing.
    mm_per_px : float
        Scalp millimetres per pixel at the image centre.
    hair_ids, follicle_ids : numpy.ndarray
        ``(N,)`` int identities.
    emergence_px, tip_px : numpy.ndarray
        ``(N, 2)`` emergence point and visible end (cut end, natural tip or frame exit).
    width_um, width_px : numpy.ndarray
        ``(N,)`` shaft diameters.
    visible_length_mm : numpy.ndarray
        ``(N,)`` length of the drawn shaft on the scalp plane (inside or outside frame).
    hair_count, follicular_unit_count : int
        Hairs / hair-bearing units emerging inside the frame.
    field_area_cm2 : float
        Frame projected on the scalp plane.
    density_per_cm2 : float
        ``hair_count / field_area_cm2``.
    mean_shaft_width_um, vellus_pct : float
        Over the hairs in the frame (vellus: width < 30 um).
    hair_mask : numpy.ndarray
        ``(H, W)`` bool, pixels at least half covered by a hair shaft.
    follicle_px : numpy.ndarray
        ``(M, 2)`` centres of all openings inside the frame (including empty ones).
    follicle_hair_counts : numpy.ndarray
        ``(M,)`` hairs per opening (0 = empty opening).
    footprint_mm : numpy.ndarray
        ``(4, 2)`` frame corners on the scalp plane.
    clipped : bool
        Whether hairs were clipped (phototrichogram).
    """

    image: np.ndarray
    scalp_to_image: np.ndarray
    mm_per_px: float
    hair_ids: np.ndarray
    follicle_ids: np.ndarray
    emergence_px: np.ndarray
    tip_px: np.ndarray
    width_um: np.ndarray
    width_px: np.ndarray
    visible_length_mm: np.ndarray
    hair_count: int
    follicular_unit_count: int
    field_area_cm2: float
    density_per_cm2: float
    mean_shaft_width_um: float
    vellus_pct: float
    hair_mask: np.ndarray
    follicle_px: np.ndarray
    follicle_hair_counts: np.ndarray
    footprint_mm: np.ndarray
    clipped: bool
    pose: Pose = field(default_factory=Pose)
    lighting: Lighting = field(default_factory=Lighting)
    optics: Optics = field(default_factory=Optics)

    def count_in_region(self, region: np.ndarray) -> int:
        """Number of hairs whose emergence point lies in a region of the image.

        Parameters
        ----------
        region : numpy.ndarray
            Either a bool ``(H, W)`` mask or an ``(K, 2)`` polygon in pixel coordinates.

        Returns
        -------
        int
        """
        region = np.asarray(region)
        if region.dtype == bool and region.shape == self.image.shape[:2]:
            p = np.round(self.emergence_px).astype(int)
            h, w = region.shape
            ok = (p[:, 0] >= 0) & (p[:, 0] < w) & (p[:, 1] >= 0) & (p[:, 1] < h)
            return int(region[p[ok, 1], p[ok, 0]].sum())
        if len(self.emergence_px) == 0:
            return 0
        return int(points_in_poly(self.emergence_px, region.astype(float)).sum())


# ----------------------------------------------------------------------------- skin

def _circle_polys(h: np.ndarray, centres_mm: np.ndarray, radii_mm: np.ndarray,
                  n_vertices: int = 20) -> list[np.ndarray]:
    """Circles on the scalp mapped exactly (vertex by vertex) into fixed-point pixels."""
    a = np.linspace(0, 2 * np.pi, n_vertices, endpoint=False)
    ring = np.stack([np.cos(a), np.sin(a)], 1)
    pts = centres_mm[:, None, :] + radii_mm[:, None, None] * ring[None]
    px = project_points(h, pts)
    return list(np.round(px * _FIX).astype(np.int32))


def _fill(shape: tuple[int, int], polys: list[np.ndarray]) -> np.ndarray:
    canvas = np.zeros(shape, np.uint8)
    if polys:
        cv2.fillPoly(canvas, polys, 255, cv2.LINE_AA, _SHIFT)
    return canvas.astype(np.float32) / 255.0


def _in_view(px: np.ndarray, shape: tuple[int, int], margin: float) -> np.ndarray:
    h, w = shape
    return ((px[..., 0] > -margin) & (px[..., 0] < w + margin)
            & (px[..., 1] > -margin) & (px[..., 1] < h + margin))


def _furrow_map(patch: ScalpPatch, h: np.ndarray, shape: tuple[int, int],
                bounds: tuple[float, float, float, float]) -> np.ndarray:
    """Skin micro-relief: polygonal networks of fine furrows, two scales.

    Voronoi ridges of random seeds give the polygonal (glyphic) pattern of skin; each
    ridge is subdivided and bent by a smooth displacement field so that furrows wander,
    and gets a random depth so the network fades in and out. Primary furrows (~1 mm
    cells) are wider and deeper than secondary ones (~0.4 mm).
    """
    rng = np.random.default_rng([patch.seed, 10])
    x0, y0, x1, y1 = bounds
    px_per_mm = float(local_px_per_mm(h, [[(x0 + x1) / 2, (y0 + y1) / 2]])[0])
    out = np.zeros(shape, np.float32)
    t = np.linspace(0.0, 1.0, 6)[None, :, None]
    for key, (per_mm2, width_mm, depth, wobble_mm) in enumerate(
            ((1.0, 0.02, 1.0, 0.07), (6.0, 0.009, 0.5, 0.025))):
        n = int((x1 - x0) * (y1 - y0) * per_mm2)
        vor = Voronoi(rng.uniform((x0, y0), (x1, y1), size=(n, 2)))
        rv = np.array([r for r in vor.ridge_vertices if -1 not in r])
        ends = vor.vertices[rv]
        mid_px = project_points(h, ends.mean(1))
        keep = _in_view(mid_px, shape, 0.6 / np.sqrt(per_mm2) * px_per_mm)
        strength = rng.uniform(0.0, 1.0, len(ends)) ** 1.5
        keep &= strength > 0.1
        ends, strength = ends[keep], strength[keep]
        pts = ends[:, :1] * (1 - t) + ends[:, 1:] * t  # (R, 6, 2)
        flat = pts.reshape(-1, 2).astype(np.float32)
        cell = 2.5 / np.sqrt(per_mm2) / 4
        dx = value_noise(patch.seed, 60 + key, cell, bounds, flat[:, 0], flat[:, 1])
        dy = value_noise(patch.seed, 62 + key, cell, bounds, flat[:, 0], flat[:, 1])
        pts = pts + wobble_mm * np.stack([dx, dy], 1).reshape(pts.shape)
        px = project_points(h, pts)
        canvas = np.zeros(shape, np.uint8)
        levels = np.digitize(strength, [0.3, 0.55, 0.8])
        thick = max(1, int(round(width_mm * px_per_mm)))
        for level in range(4):
            lines = list(np.round(px[levels == level] * _FIX).astype(np.int32))
            if lines:
                cv2.polylines(canvas, lines, False, int(70 + 60 * level), thick, cv2.LINE_AA,
                              _SHIFT)
        sigma = max(0.8, 0.5 * width_mm * px_per_mm)
        out += depth * cv2.GaussianBlur(canvas.astype(np.float32) / 255.0, (0, 0), sigma)
    return np.clip(out, 0, 1)


def _vessel_map(patch: ScalpPatch, h: np.ndarray, shape: tuple[int, int],
                bounds: tuple[float, float, float, float]) -> np.ndarray:
    """Thin arborising and comma-shaped capillaries as random-walk polylines."""
    rng = np.random.default_rng([patch.seed, 20])
    x0, y0, x1, y1 = bounds
    n = int((x1 - x0) * (y1 - y0) / 100.0 * (3.0 + 5.0 * patch.redness))
    canvas = np.zeros(shape, np.uint8)
    px_per_mm = float(local_px_per_mm(h, [[(x0 + x1) / 2, (y0 + y1) / 2]])[0])
    for _ in range(n):
        start = rng.uniform((x0, y0), (x1, y1))
        comma = rng.random() < 0.35
        steps = int(rng.integers(4, 9) if comma else rng.integers(10, 35))
        turn = rng.normal(0.35 if comma else 0.0, 0.25 if comma else 0.45, steps)
        ang = rng.uniform(0, 2 * np.pi) + np.cumsum(turn)
        step = 0.035 if comma else 0.05
        path = start + np.cumsum(step * np.stack([np.cos(ang), np.sin(ang)], 1), 0)
        paths = [np.vstack([start, path])]
        if not comma and rng.random() < 0.6:  # a side branch
            k = int(rng.integers(1, steps))
            bang = ang[k] + rng.choice([-1, 1]) * rng.uniform(0.5, 1.2) + np.cumsum(
                rng.normal(0, 0.4, steps // 2))
            paths.append(path[k] + np.cumsum(step * np.stack([np.cos(bang), np.sin(bang)], 1), 0))
        width_px = rng.uniform(0.009, 0.018) * px_per_mm
        for p in paths:
            q = project_points(h, p)
            if not _in_view(q, shape, 10).any():
                continue
            cv2.polylines(canvas, [np.round(q * _FIX).astype(np.int32)], False,
                          int(rng.integers(120, 255)), max(1, int(round(width_px))),
                          cv2.LINE_AA, _SHIFT)
    return cv2.GaussianBlur(canvas.astype(np.float32) / 255.0, (0, 0), 0.9)


def _skin(patch: ScalpPatch, h: np.ndarray, image_size: tuple[int, int]
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Skin albedo, follicular-opening map and oily-sheen map for the output grid."""
    w, hh = image_size
    shape = (hh, w)
    x, y = pixel_scalp_coordinates(h, shape)
    bounds = (-6.0, -6.0, patch.width_mm + 6.0, patch.height_mm + 6.0)
    s = patch.seed
    lum = (1.0 + 0.07 * value_noise(s, 1, 1.0, bounds, x, y)
           + 0.04 * value_noise(s, 2, 0.22, bounds, x, y)
           + 0.03 * value_noise(s, 6, 0.06, bounds, x, y)
           + 0.03 * value_noise(s, 3, 0.02, bounds, x, y))
    red = value_noise(s, 4, 0.5, bounds, x, y)
    albedo = skin_albedo(patch.melanin, patch.redness).astype(np.float32)
    img = np.empty((hh, w, 3), np.float32)
    img[..., 0] = albedo[0] * lum
    img[..., 1] = albedo[1] * lum * (1.0 - 0.05 * red)
    img[..., 2] = albedo[2] * lum * (1.0 - 0.035 * red)

    furrow = _furrow_map(patch, h, shape, bounds)
    depth = 0.14 + 0.18 * patch.melanin
    # Furrows are shadowed and slightly browner (pigment collects in the creases).
    img *= (1.0 - depth * furrow)[..., None] * (
        1.0 - furrow[..., None] * np.array([0.0, 0.03, 0.05], np.float32))

    vessel = _vessel_map(patch, h, shape, bounds)
    vessel_rgb = np.array([0.42, 0.07, 0.08], np.float32)
    a = np.clip((0.45 + 0.4 * patch.redness) * vessel, 0, 1)[..., None]
    img = img * (1 - a) + vessel_rgb * a

    # Follicular openings, halos, empty openings (yellow dots) and pinpoint white dots.
    centres = np.array([(u.x_mm, u.y_mm) for u in patch.units]).reshape(-1, 2)
    radii = np.array([u.opening_diameter_um / 2000.0 for u in patch.units])
    n_hairs = np.array([len(u.hairs) for u in patch.units])
    vis = _in_view(project_points(h, centres), shape, 40)
    px_per_mm = float(local_px_per_mm(h, centres[vis][:1])[0]) if vis.any() else 1.0
    has = vis & (n_hairs > 0)
    # Which empty openings look like yellow dots is a fixed property of the opening.
    yellow = vis & (n_hairs == 0) & (np.array([u.follicle_id for u in patch.units]) * 7919
                                     % 10 < 7)
    empty_dark = vis & (n_hairs == 0) & ~yellow
    ostium = cv2.GaussianBlur(_fill(shape, _circle_polys(h, centres[has], 0.8 * radii[has])),
                              (0, 0), max(0.6, 0.01 * px_per_mm))
    halo = cv2.GaussianBlur(_fill(shape, _circle_polys(h, centres[has], 1.8 * radii[has])),
                            (0, 0), max(1.0, 0.03 * px_per_mm))
    ydot = cv2.GaussianBlur(_fill(shape, _circle_polys(h, centres[yellow], 1.15 * radii[yellow])),
                            (0, 0), max(0.8, 0.012 * px_per_mm))
    yrim = cv2.GaussianBlur(_fill(shape, _circle_polys(h, centres[yellow], 1.5 * radii[yellow])),
                            (0, 0), max(1.0, 0.02 * px_per_mm))
    edot = cv2.GaussianBlur(_fill(shape, _circle_polys(h, centres[empty_dark], radii[empty_dark])),
                            (0, 0), max(0.8, 0.015 * px_per_mm))
    rng = np.random.default_rng([s, 30])
    area_cm2 = (bounds[2] - bounds[0]) * (bounds[3] - bounds[1]) / 100.0
    n_white = int(area_cm2 * (6 + 20 * patch.melanin))  # eccrine openings show on dark skin
    wc = rng.uniform(bounds[:2], bounds[2:], size=(n_white, 2))
    wvis = _in_view(project_points(h, wc), shape, 10)
    wdot = cv2.GaussianBlur(_fill(shape, _circle_polys(
        h, wc[wvis], rng.uniform(0.02, 0.035, n_white)[wvis], 12)), (0, 0), 1.0)

    brown = albedo * np.array([0.42, 0.33, 0.30], np.float32)
    ring = np.clip(halo - ostium, 0, 1)[..., None]
    img *= 1 - 0.12 * ring * np.array([0.8, 1.0, 1.1], np.float32)
    o = np.clip(0.7 * ostium, 0, 1)[..., None]
    img = img * (1 - o) + brown * o
    rim = (0.45 * np.clip(yrim - ydot, 0, 1))[..., None]
    img = img * (1 - rim) + brown * rim
    yellow_rgb = np.array([0.62, 0.40, 0.17], np.float32)
    yd = (0.7 * ydot)[..., None]
    img = img * (1 - yd) + yellow_rgb * yd
    ed = (0.45 * edot)[..., None]
    img = img * (1 - ed) + brown * ed
    wd = (0.35 * wdot)[..., None]
    img = img * (1 - wd) + np.array([0.85, 0.8, 0.76], np.float32) * wd

    sheen = np.clip((value_noise(s, 5, 0.35, bounds, x, y) - 1.3) / 0.6, 0, 1)
    sheen = 0.6 * sheen + 0.5 * ydot  # sebum in the openings glistens too
    return img, ostium, sheen.astype(np.float32)


# ----------------------------------------------------------------------------- hairs

def _centreline(x0: float, y0: float, theta: float, lie: float, kappa: float,
                s: np.ndarray, relax_mm: float = 1.5) -> np.ndarray:
    """Shaft centreline: leaves the opening at ``theta`` and bends towards ``lie``.

    The heading relaxes exponentially from the emergence direction to the lie (combing)
    direction over ``relax_mm``, plus a constant curvature; positions are the
    trapezoidal integral of the heading.
    """
    delta = np.angle(np.exp(1j * (theta - lie)))
    heading = lie + delta * np.exp(-s / relax_mm) + kappa * s
    d = np.stack([np.cos(heading), np.sin(heading)], 1)
    ds = np.diff(s)[:, None]
    steps = 0.5 * (d[1:] + d[:-1]) * ds
    return np.vstack([[x0, y0], np.array([x0, y0]) + np.cumsum(steps, 0)])


def _ribbon(pts: np.ndarray, half_width: np.ndarray) -> np.ndarray:
    """Outline polygon of a variable-width band around a polyline (blunt ends)."""
    t = np.gradient(pts, axis=0)
    t /= np.linalg.norm(t, axis=1, keepdims=True) + 1e-12
    n = np.stack([-t[:, 1], t[:, 0]], 1) * half_width[:, None]
    return np.vstack([pts + n, (pts - n)[::-1]])


def _frame_exit(pts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Visible end of a polyline that starts inside the frame: last point or frame exit."""
    h, w = shape
    lo, hi = np.array([-0.5, -0.5]), np.array([w - 0.5, h - 0.5])
    inside = np.all((pts >= lo) & (pts <= hi), axis=1)
    out = np.flatnonzero(~inside)
    if len(out) == 0 or out[0] == 0:
        return pts[-1] if len(out) == 0 else pts[0]
    a, b = pts[out[0] - 1], pts[out[0]]
    d = b - a
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.concatenate([(lo - a) / d, (hi - a) / d])
    t = t[(t >= 0) & (t <= 1)]
    return a + (t.min() if len(t) else 1.0) * d


def hair_emergence_mm(hair: dict[str, np.ndarray]) -> np.ndarray:
    """Where each shaft leaves the skin: inside its opening, slightly off-centre.

    Hairs of one unit leave the opening side by side; the offset (up to +-35 um across
    the shaft direction) is fixed by ``hair_id`` so it does not change between visits.

    Parameters
    ----------
    hair : dict of numpy.ndarray
        Output of :meth:`ScalpPatch.hair_arrays`.

    Returns
    -------
    numpy.ndarray
        ``(N, 2)`` scalp-plane millimetres.
    """
    theta = np.deg2rad(hair["direction_deg"])
    off = (((hair["hair_id"] * 2654435761) % 1009) / 1008.0 - 0.5) * 0.07
    return np.stack([hair["x_mm"] - np.sin(theta) * off, hair["y_mm"] + np.cos(theta) * off], 1)


def hairs_in_frame(patch: ScalpPatch, scalp_to_image: np.ndarray,
                   image_size: tuple[int, int]) -> np.ndarray:
    """Ids of the hairs that emerge inside an image frame (no rendering needed).

    Parameters
    ----------
    patch : ScalpPatch
        Scene.
    scalp_to_image : numpy.ndarray
        3x3 homography.
    image_size : tuple of int
        ``(width, height)``.

    Returns
    -------
    numpy.ndarray
        Sorted hair ids.
    """
    hair = patch.hair_arrays()
    if len(hair["hair_id"]) == 0:
        return np.zeros(0, np.int64)
    px = project_points(scalp_to_image, hair_emergence_mm(hair))
    w, hh = image_size
    inside = ((px[:, 0] >= -0.5) & (px[:, 0] < w - 0.5)
              & (px[:, 1] >= -0.5) & (px[:, 1] < hh - 0.5))
    return np.sort(hair["hair_id"][inside])


def _band_tables() -> tuple[dict[tuple[int, int], int], np.ndarray, np.ndarray]:
    """Shading of the nested bands of a shaft drawn with 2-8 bands.

    Cylinder shading: Lambertian fall-off across the shaft with darker rims, and a light
    specular streak along the axis (cuticle reflection).
    """
    codes, u = {}, [0.0]
    for n in range(2, 9):
        for k in range(n):
            codes[(n, k)] = len(u)
            u.append(1.0 - k / n - 0.5 / n)  # mid-radius of band k (0 = outermost)
    u = np.array(u, np.float32)
    diffuse = (0.4 + 0.6 * np.sqrt(np.clip(1 - u * u, 0, 1))) * (1 - 0.25 * u**8)
    specular = np.exp(-((u / 0.28) ** 2))
    return codes, diffuse.astype(np.float32), specular.astype(np.float32)


_BAND_CODE, _BAND_DIFFUSE, _BAND_SPECULAR = _band_tables()


@dataclass(frozen=True)
class _HairLayers:
    coverage: np.ndarray    # (H, W) fraction of each output pixel covered by hair
    premult_rgb: np.ndarray  # (H, W, 3) hair colour times coverage
    specular: np.ndarray    # (H, W) specular strength of shafts
    shadow: np.ndarray      # (H, W) soft shadow cast on the skin


def _draw_hairs(patch: ScalpPatch, hair: dict[str, np.ndarray], lines: list[np.ndarray],
                natural_len: np.ndarray, order: np.ndarray, h: np.ndarray,
                image_size: tuple[int, int], ss: int, clipped: bool) -> _HairLayers:
    """Draw shafts with cylinder shading on a supersampled grid (painter's order)."""
    w, hh = image_size
    hs = supersample_matrix(ss) @ h
    shape_ss = (hh * ss, w * ss)
    idmap = np.full(shape_ss, -1, np.int32)
    # Across-shaft position is drawn as nested bands; each band gets a code whose radial
    # position |u| (0 = axis, 1 = rim) is looked up in a table.
    umap = np.zeros(shape_ss, np.uint8)
    shadow = np.zeros((hh, w), np.float32)
    px_per_mm = local_px_per_mm(h, np.stack([hair["x_mm"], hair["y_mm"]], 1))
    # Clipped shafts stand up at their cut end and cast a longer shadow.
    shadow_mm = np.array([0.012, 0.018]) * (2.2 if clipped else 1.0)
    for i in order:
        pts = lines[i]
        if pts is None:
            continue
        q = project_points(hs, pts)
        if not _in_view(q, shape_ss, 40 * ss).any():
            continue
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        hw = np.full(len(s), hair["width_um"][i] / 2000.0 * px_per_mm[i] * ss)
        lp = natural_len[i]
        taper = np.clip((s - 0.85 * lp) / (0.15 * lp + 1e-9), 0, 1)
        hw *= 1.0 - 0.8 * taper  # natural tips taper; cut ends stay blunt
        hw *= 0.6 + 0.4 * np.clip(s / 0.05, 0, 1)  # the root is half hidden in the canal
        n_layers = int(np.clip(np.ceil(hw.max() / 1.5), 2, 8))
        for k in range(n_layers):
            frac = 1.0 - k / n_layers
            poly = np.round(_ribbon(q, np.maximum(hw * frac, 0.35)) * _FIX).astype(np.int32)
            if k == 0:
                cv2.fillPoly(idmap, [poly], int(i), cv2.LINE_8, _SHIFT)
            cv2.fillPoly(umap, [poly], _BAND_CODE[(n_layers, k)], cv2.LINE_8, _SHIFT)
        sq = project_points(h, pts + shadow_mm)
        spoly = _ribbon(sq, np.maximum(hw / ss, 0.5))
        cv2.fillPoly(shadow, [np.round(spoly * _FIX).astype(np.int32)], 1.0, cv2.LINE_8, _SHIFT)

    sel = np.flatnonzero(idmap.ravel() >= 0)
    ids = idmap.ravel()[sel]
    code = umap.ravel()[sel]
    # Per-hair tone and gloss, fixed by hair_id so they persist across visits.
    hid = hair["hair_id"]
    tone = 0.8 + 0.45 * ((hid * 40503) % 997) / 997.0
    base_rgb = (hair_albedo(hair["pigment"]) * tone[:, None]).astype(np.float32)
    gloss = (0.075 * (0.6 + 0.8 * ((hid * 2654435761) % 1000) / 1000.0)
             * (0.5 + 0.5 * hair["pigment"])).astype(np.float32)
    x1, y1 = pixel_scalp_coordinates(h, (hh, w))
    bounds = (-6.0, -6.0, patch.width_mm + 6.0, patch.height_mm + 6.0)
    grain_px = 1.0 + 0.1 * value_noise(patch.seed, 40, 0.05, bounds, x1, y1)
    grain = cv2.resize(grain_px, (w * ss, hh * ss), interpolation=cv2.INTER_NEAREST).ravel()[sel]
    spec = gloss[ids] * _BAND_SPECULAR[code]
    colour = base_rgb[ids] * (_BAND_DIFFUSE[code] * grain)[:, None] + spec[:, None]
    rgb_ss = np.zeros(shape_ss + (3,), np.float32)
    rgb_ss.reshape(-1, 3)[sel] = colour
    spec_ss = np.zeros(shape_ss, np.float32)
    spec_ss.ravel()[sel] = spec
    mask = (idmap >= 0).astype(np.float32)
    down = (w, hh)
    return _HairLayers(
        coverage=cv2.resize(mask, down, interpolation=cv2.INTER_AREA),
        premult_rgb=cv2.resize(rgb_ss, down, interpolation=cv2.INTER_AREA),
        specular=cv2.resize(spec_ss, down, interpolation=cv2.INTER_AREA),
        shadow=cv2.GaussianBlur(shadow, (0, 0), 2.0))


def render_trichoscopy(patch: ScalpPatch, pose: Pose = Pose(), lighting: Lighting = Lighting(),
                       optics: Optics = Optics(), *, image_size: tuple[int, int] = (1600, 1200),
                       field_width_mm: float = 10.0, clipped: bool = True,
                       clip_length_mm: tuple[float, float] = (0.5, 1.0),
                       focal_length_35mm: float = TRICHO_FOCAL_LENGTH_35MM,
                       rng: np.random.Generator | int | None = 0, supersample: int = 2,
                       bit_depth: int = 8, centre_mm: tuple[float, float] | None = None
                       ) -> Render:
    """Render a trichoscopy (video-dermatoscope) image of a scalp patch.

    Parameters
    ----------
    patch : ScalpPatch
        The scalp; the camera aims at its centre (or ``centre_mm``) at the nominal pose.
    pose : Pose
        Camera pose relative to nominal.
    lighting : Lighting
        Illumination.
    optics : Optics
        Blur and sensor noise.
    image_size : tuple of int
        ``(width, height)`` in pixels.
    field_width_mm : float
        Scalp width covered by the image at the nominal pose (10 mm ~ 6 um/px at 1600 px).
    clipped : bool
        Phototrichogram standard: every hair is cut to a short segment (uniform in
        ``clip_length_mm``, projected length) from its opening, with a blunt end.
        Otherwise hairs are drawn at full length, lying in their combing direction.
    clip_length_mm : tuple of float
        Range of clipped lengths.
    focal_length_35mm : float
        35 mm-equivalent focal length of the device (defines the intrinsic matrix).
    rng : numpy.random.Generator or int
        Randomness of this shot (clip lengths, sensor noise); the scene itself comes
        from ``patch``.
    supersample : int
        Hair anti-aliasing factor.
    bit_depth : int
        8 or 16.
    centre_mm : tuple of float, optional
        Nominal aimed scalp point.

    Returns
    -------
    Render
        Image and truth.
    """
    rng = as_generator(rng)
    w, hh = image_size
    centre = patch.centre_mm if centre_mm is None else centre_mm
    h = scalp_to_image_homography(pose, image_size=image_size,
                                  focal_length_35mm=focal_length_35mm,
                                  field_width_mm=field_width_mm, centre_mm=centre)
    foot = frame_footprint_mm(h, image_size)
    foot_c = foot.mean(0)
    foot_r = float(np.max(np.linalg.norm(foot - foot_c, axis=1)))

    hair = patch.hair_arrays()
    n = len(hair["hair_id"])
    clip = rng.uniform(*clip_length_mm, size=n)  # drawn for every hair: pose-independent
    theta = np.deg2rad(hair["direction_deg"])
    lie = np.deg2rad(hair["lie_direction_deg"])
    ex, ey = hair_emergence_mm(hair).T
    natural = hair["length_mm"] * np.cos(hair["lift"] * np.pi / 2.0)
    dist = np.hypot(ex - foot_c[0], ey - foot_c[1])
    reach = dist + foot_r + 0.5
    visible = np.minimum(natural, clip) if clipped else np.minimum(natural, reach)
    lines: list[np.ndarray | None] = [None] * n
    step = 0.03 if clipped else 0.06
    for i in np.flatnonzero(dist - visible < foot_r + 0.3):
        s = np.linspace(0.0, visible[i], max(2, int(np.ceil(visible[i] / step)) + 1))
        lines[i] = _centreline(ex[i], ey[i], theta[i], lie[i], hair["curvature_per_mm"][i], s)
    order = np.argsort((hair["hair_id"] * 2654435761) % 4294967296, kind="stable")

    skin, ostium, sheen = _skin(patch, h, image_size)
    layers = _draw_hairs(patch, hair, lines, natural, order, h, image_size, supersample, clipped)
    shade = 1.0 - 0.35 * np.clip(layers.shadow, 0, 1)
    cov = layers.coverage[..., None]
    radiance = skin * shade[..., None] * (1 - cov) + layers.premult_rgb
    radiance *= (1.0 - 0.35 * ostium * layers.coverage)[..., None]  # roots sit in the canal
    specular = 4.0 * layers.specular + sheen * (1 - layers.coverage)
    image = develop(radiance, lighting, optics, rng, specular=specular, bit_depth=bit_depth)

    # Truth for hairs emerging inside the frame.
    em_px = project_points(h, np.stack([ex, ey], 1))
    inside = ((em_px[:, 0] >= -0.5) & (em_px[:, 0] < w - 0.5)
              & (em_px[:, 1] >= -0.5) & (em_px[:, 1] < hh - 0.5))
    idx = np.flatnonzero(inside)
    tips = np.array([_frame_exit(project_points(h, lines[i]), (hh, w)) for i in idx]
                    ).reshape(-1, 2)
    px_per_mm = local_px_per_mm(h, np.stack([ex[idx], ey[idx]], 1)) if len(idx) else np.zeros(0)
    area_cm2 = polygon_area(foot) / 100.0
    widths = hair["width_um"][idx]
    centres = np.array([(u.x_mm, u.y_mm) for u in patch.units]).reshape(-1, 2)
    fpx = project_points(h, centres)
    fin = ((fpx[:, 0] >= -0.5) & (fpx[:, 0] < w - 0.5)
           & (fpx[:, 1] >= -0.5) & (fpx[:, 1] < hh - 0.5))
    return Render(
        image=image, scalp_to_image=h, mm_per_px=mm_per_px_at_centre(h, image_size),
        hair_ids=hair["hair_id"][idx], follicle_ids=hair["follicle_id"][idx],
        emergence_px=em_px[idx], tip_px=tips, width_um=widths,
        width_px=widths / 1000.0 * px_per_mm, visible_length_mm=visible[idx],
        hair_count=len(idx),
        follicular_unit_count=len(np.unique(hair["follicle_id"][idx])),
        field_area_cm2=area_cm2, density_per_cm2=len(idx) / area_cm2,
        mean_shaft_width_um=float(widths.mean()) if len(idx) else 0.0,
        vellus_pct=float(100.0 * np.mean(widths < VELLUS_MAX_WIDTH_UM)) if len(idx) else 0.0,
        hair_mask=layers.coverage >= 0.5, follicle_px=fpx[fin],
        follicle_hair_counts=np.array([len(u.hairs) for u in patch.units])[fin],
        footprint_mm=foot, clipped=clipped, pose=pose, lighting=lighting, optics=optics)
