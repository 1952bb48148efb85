"""Pareto fronts of placements set against the other solvers' placements.

:func:`pareto_report` runs NSGA-II (:func:`optim.solvers.nsga2.pareto_front`), measures the
placements of the reference solvers on the same objectives, and scores both with the hypervolume
indicator (pymoo) on one common normalisation. :func:`front_document` is the JSON written by
``optim pareto --output`` and ``optim solve --solver nsga2 --front``; :func:`plot_front` draws it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .instance import Instance
from .solvers.nsga2 import (DEFAULT_OBJECTIVES, OBJECTIVES, PENALTY, SEED_SOLVERS, ParetoFront, PlacementObjectives,
                            normalised_hypervolume, objective_matrix, pareto_front, solver_placements)

FRONT_FORMAT = "optim-front/1"


@dataclass
class FrontReport:
    """NSGA-II's front, the reference solvers' points and the hypervolumes.

    Attributes
    ----------
    front : ParetoFront
    solver_points : dict of solver name -> array, shape (3,)
        [mean inference time s, nu /s, memory left for caches GB] of each reference solver's placement.
    hypervolume : dict of str -> float
        ``"front"``, ``"solvers"`` (all reference points as one set) and each solver alone, on one
        scale (:func:`optim.solvers.nsga2.normalised_hypervolume`).
    dominated_by_front : dict of solver name -> bool
        Whether some front point dominates the solver's point (weakly better everywhere, strictly
        somewhere).
    """

    front: ParetoFront
    solver_points: dict[str, np.ndarray] = field(default_factory=dict)
    hypervolume: dict[str, float] = field(default_factory=dict)
    dominated_by_front: dict[str, bool] = field(default_factory=dict)


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether point ``a`` dominates ``b`` (both in minimisation form, shape (n_obj,))."""
    return bool(np.all(a <= b) and np.any(a < b))


def pareto_report(inst: Instance, *, objectives=DEFAULT_OBJECTIVES, population: int = 100,
                  generations: int | None = None, time_limit: float | None = None, seed: int = 0,
                  solvers=SEED_SOLVERS, progress: Callable[[int, int | None], None] | None = None) -> FrontReport:
    """Front of NSGA-II, seeded with and compared to ``solvers``.

    Parameters
    ----------
    inst : Instance
    objectives, population, generations, seed, progress
        As :func:`optim.solvers.nsga2.pareto_front`.
    time_limit : float, optional
        Seconds for the whole call (the reference solvers, then the search).
    solvers : sequence of str
        Reference solvers: their placements seed the search and are scored beside the front.

    Returns
    -------
    FrontReport
    """
    from .backends import Deadline

    deadline = Deadline(time_limit)  # the whole call, the reference solvers included
    placements = solver_placements(inst, solvers)
    front = pareto_front(inst, objectives=objectives, population=population, generations=generations,
                         deadline=deadline, seed=seed, seeds=[(s, e) for s, e, _ in placements],
                         progress=progress)
    evaluator = PlacementObjectives(inst, front.objectives)
    points = {name: np.array(evaluator.raw(s, e)) for s, e, name in placements}
    points = {k: v for k, v in points.items() if v[0] < PENALTY}  # a placement that serves no request is no point
    rep = FrontReport(front=front, solver_points=points)
    if len(front):
        F = front.minimised()
        sets = {"front": F}
        if points:
            P = objective_matrix(np.array(list(points.values())), front.objectives)
            sets["solvers"] = P
            sets.update({k: P[i:i + 1] for i, k in enumerate(points)})
            rep.dominated_by_front = {k: any(dominates(f, P[i]) for f in F) for i, k in enumerate(points)}
        rep.hypervolume = normalised_hypervolume(sets)
    return rep


def front_document(instance: str, details: dict, report: FrontReport | None = None) -> dict:
    """The JSON document of a front (format ``optim-front/1``).

    Parameters
    ----------
    instance : str
        Instance name.
    details : dict
        ``Solution.details`` of an nsga2 solution (``front``, ``knee``, ``objectives`` and the
        search settings).
    report : FrontReport, optional
        Adds the reference solvers' points, whether the front dominates them, and the hypervolumes.
    """
    doc = {"format": FRONT_FORMAT, "instance": instance, "objectives": details["objectives"],
           "knee": details["knee"], "points": details["front"],
           "search": {k: details[k] for k in ("population", "generations", "evaluations", "search_time_s", "seed")
                      if k in details}}
    if report is not None:
        keys = [OBJECTIVES[o][0] for o in OBJECTIVES]
        doc["solvers"] = {name: {**dict(zip(keys, map(float, v))), "dominated_by_front": report.dominated_by_front.get(name)}
                          for name, v in report.solver_points.items()}
        doc["hypervolume"] = report.hypervolume
    return doc


def plot_front(doc: dict, path: str | Path) -> None:
    """Draw a front document as pairwise projections, one panel per pair of its objectives.

    With two objectives one panel, with three the three pairs side by side (one cloud of a 3-D front
    hides which points trade what). In each panel the points that are non-dominated in that pair are
    joined by a line; the knee is a red star; each reference solver is a labelled marker. Written
    atomically.
    """
    import itertools

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import save_figure_atomic

    pts = doc["points"]
    objs = [o for o in doc["objectives"] if o in OBJECTIVES]
    values = {o: np.array([p[OBJECTIVES[o][0]] for p in pts], dtype=float) for o in objs}
    pairs = list(itertools.combinations(objs, 2))
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 4.4), squeeze=False)
    k = doc["knee"]
    for ax, (ox, oy) in zip(axes[0], pairs):
        x, y = values[ox], values[oy]
        sx, sy = OBJECTIVES[ox][2], OBJECTIVES[oy][2]  # +1 minimised, -1 maximised
        ax.scatter(x, y, s=18, c="C0", alpha=0.6, zorder=3, label=f"NSGA-II front ({len(pts)} points)")
        order = np.lexsort((sy * y, sx * x))
        best, stairs = np.inf, []
        for i in order:  # the trade-off in this pair alone
            if sy * y[i] < best:
                best = sy * y[i]
                stairs.append(i)
        ax.step(x[stairs], y[stairs], where="post", c="0.4", lw=1, zorder=2, label="non-dominated in this pair")
        ax.scatter([x[k]], [y[k]], marker="*", s=220, c="none", edgecolors="red", linewidths=1.5, zorder=4,
                   label="knee (returned solution)")
        markers = iter("s^Dvp<>h")
        for name, p in doc.get("solvers", {}).items():
            ax.scatter([p[OBJECTIVES[ox][0]]], [p[OBJECTIVES[oy][0]]], marker=next(markers, "o"), s=60, c="white",
                       edgecolors="black", zorder=5, label=name)
        ax.set_xlabel(OBJECTIVES[ox][1] + (" (lower is better)" if sx > 0 else " (higher is better)"))
        ax.set_ylabel(OBJECTIVES[oy][1] + (" (lower is better)" if sy > 0 else " (higher is better)"))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="best")
    hv = doc.get("hypervolume")
    title = f"{doc['instance']}: Pareto front of {', '.join(objs)}"
    if hv and "solvers" in hv:
        title += f" (hypervolume {hv['front']:.3f} vs heuristics {hv['solvers']:.3f})"
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    save_figure_atomic(fig, path)
    plt.close(fig)
