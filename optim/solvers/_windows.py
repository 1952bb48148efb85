"""Choosing a window of consecutive blocks, the step shared by PETALS and CG-BPRR placement."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def lexmin_sorted_window(values: np.ndarray, width: int) -> int:
    """Start of the window of ``width`` consecutive entries whose *sorted* values are
    lexicographically smallest (weakest entry first, ties on the second weakest, ...);
    ties go to the lowest start. PETALS' ``_choose_best_start`` rule (block_selection.py) and
    CG-BPRR's rule once every block is served (arXiv 2512.21884 Alg. 1).

    Parameters
    ----------
    values : array of float, shape (L,)
    width : int, 1 <= width <= L

    Returns
    -------
    int
        Window start in ``[0, L - width]``.
    """
    windows = np.sort(sliding_window_view(values, width), axis=1)
    # np.lexsort sorts by the last key first: pass columns from last to first
    return int(np.lexsort(windows.T[::-1])[0])


def window_sums(values: np.ndarray, width: int) -> np.ndarray:
    """Sums of every window of ``width`` consecutive entries, shape (L - width + 1,)."""
    return sliding_window_view(np.asarray(values, dtype=float), width).sum(axis=1)


def first_argmax(values: np.ndarray, rel_tol: float = 1e-12) -> int:
    """Index of the first entry within ``rel_tol`` of the maximum (ties to the lowest index,
    whatever the float round-off of how the values were summed)."""
    top = np.max(values)
    return int(np.flatnonzero(values >= top - rel_tol * max(abs(top), 1.0))[0])
