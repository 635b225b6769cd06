"""A hair mask's skeleton as a graph: branches between end points and junctions.

Skeleton pixels with one neighbour are end points, with three or more junction pixels;
removing the junction pixels leaves the branches as connected pieces, and each branch end is
either free or touches a junction node (a cluster of junction pixels). Everything is done
with array labelling (scipy.ndimage), no per-pixel Python loops.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

_EIGHT = np.ones((3, 3), bool)


@dataclass(frozen=True)
class Branch:
    """One skeleton branch, pixels ordered from ``ends[0]`` to ``ends[1]``."""

    index: int
    pixels: np.ndarray
    """``(n, 2)`` (row, col), ordered along the branch."""
    nodes: tuple[int, int]
    """Junction node at each end, or -1 for a free end."""

    @property
    def length_px(self) -> float:
        steps = np.diff(self.pixels, axis=0)
        return float(np.hypot(steps[:, 0], steps[:, 1]).sum()) + 1.0


@dataclass(frozen=True)
class SkeletonGraph:
    branches: tuple[Branch, ...]
    node_centres: np.ndarray
    """``(K, 2)`` (row, col) centre of each junction node."""


def _order(pixels: np.ndarray, start: tuple[int, int] | None) -> np.ndarray:
    """Order a thin chain of pixels from one end to the other (greedy nearest neighbour)."""
    if len(pixels) <= 2:
        return pixels
    remaining = {tuple(p) for p in pixels}
    if start is None or start not in remaining:
        start = tuple(pixels[0])
    ordered = [start]
    remaining.discard(start)
    while remaining:
        r, c = ordered[-1]
        nxt = None
        for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1)):
            if (r + dr, c + dc) in remaining:
                nxt = (r + dr, c + dc)
                break
        if nxt is None:
            break
        ordered.append(nxt)
        remaining.discard(nxt)
    return np.array(ordered)


def skeleton_graph(skeleton: np.ndarray) -> SkeletonGraph:
    """Split a one-pixel-wide skeleton into branches and junction nodes.

    Parameters
    ----------
    skeleton : numpy.ndarray
        Bool skeleton (e.g. ``skimage.morphology.skeletonize``).

    Returns
    -------
    SkeletonGraph
    """
    skel = skeleton.astype(bool)
    neighbours = ndimage.convolve(skel.astype(np.uint8), np.ones((3, 3), np.uint8), mode="constant") - 1
    junction = skel & (neighbours >= 3)
    nodes, n_nodes = ndimage.label(junction, structure=_EIGHT)
    node_centres = np.array(ndimage.center_of_mass(junction, nodes, range(1, n_nodes + 1))) if n_nodes else \
        np.zeros((0, 2))
    pieces, n_pieces = ndimage.label(skel & ~junction, structure=_EIGHT)
    # Which node touches each piece pixel: dilate the node labels by one pixel.
    grown = ndimage.grey_dilation(nodes, footprint=_EIGHT)
    endpoint = skel & ~junction & (neighbours == 1)
    branches = []
    slices = ndimage.find_objects(pieces)
    for label, window in enumerate(slices, start=1):
        if window is None:
            continue
        local = pieces[window] == label
        rows, cols = np.nonzero(local)
        pixels = np.column_stack([rows + window[0].start, cols + window[1].start])
        touching = grown[pixels[:, 0], pixels[:, 1]]
        # A branch end is a free end point, or a pixel next to a junction node.
        ends_free = [tuple(p) for p in pixels[endpoint[pixels[:, 0], pixels[:, 1]]]]
        ends_node = [(tuple(p), int(t) - 1) for p, t in zip(pixels, touching) if t > 0]
        start = ends_free[0] if ends_free else (ends_node[0][0] if ends_node else None)
        ordered = _order(pixels, start)
        first, last = tuple(ordered[0]), tuple(ordered[-1])

        def node_at(point: tuple[int, int]) -> int:
            for p, n in ends_node:
                if abs(p[0] - point[0]) <= 1 and abs(p[1] - point[1]) <= 1:
                    return n
            return -1

        nodes_at = (node_at(first), node_at(last))
        if len(ordered) == 1 and ends_node:
            nodes_at = (ends_node[0][1], ends_node[-1][1])
        branches.append(Branch(len(branches), ordered, nodes_at))
    return SkeletonGraph(tuple(branches), node_centres)


def end_direction(branch: Branch, at_start: bool, reach_px: float) -> np.ndarray:
    """Unit (row, col) direction pointing out of the branch end into the branch."""
    pixels = branch.pixels if at_start else branch.pixels[::-1]
    n = max(2, min(len(pixels), int(round(reach_px))))
    if len(pixels) < 2:
        return np.zeros(2)
    vector = pixels[n - 1].astype(float) - pixels[0].astype(float)
    norm = np.hypot(*vector)
    return vector / norm if norm > 0 else np.zeros(2)
