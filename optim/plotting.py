"""Pictures of a solution: the placement as one bar of blocks per server."""
from __future__ import annotations

from typing import Any

from .instance import Instance
from .solution import Solution


def plot_placement(inst: Instance, sol: Solution, ax: Any = None) -> Any:
    """Draw a placement: one row per server, a bar over the blocks ``[start, end)`` it holds,
    coloured by GPU, labelled with the cache slots it reserves.

    Parameters
    ----------
    inst : Instance
    sol : Solution
        Any solution with a placement.
    ax : matplotlib Axes, optional
        Drawn on a new figure when not given.

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    ValueError
        The solution has no placement.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if not sol.placement:
        raise ValueError(f"solution of {sol.solver!r} has no placement (status {sol.status.value})")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.0, 0.28 * inst.num_servers + 1.2))
    span = {p.server: p for p in sol.placement}
    gpus = sorted({s.gpu or "?" for s in inst.servers})
    colours = {g: plt.get_cmap("tab10")(i % 10) for i, g in enumerate(gpus)}
    for row, s in enumerate(inst.servers):
        p = span.get(s.id)
        if p is not None and p.end > p.start:
            ax.barh(row, p.end - p.start, left=p.start, color=colours[s.gpu or "?"], edgecolor="black", lw=0.5)
            ax.text(p.end + 0.3, row, f"{p.cache_slots} slots", va="center", fontsize=7)
    ax.set_yticks(range(inst.num_servers),
                  [f"{s.id} {s.city or ''}".strip() for s in inst.servers], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, inst.num_blocks * 1.15)
    ax.set_xlabel(f"block (L = {inst.num_blocks})")
    ax.set_title(f"{inst.name}: placement of {sol.solver}", fontsize=10)
    ax.legend(handles=[Patch(facecolor=colours[g], edgecolor="black", label=g) for g in gpus], fontsize=7,
              loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_replan_sweep(rows: list[dict], ax: Any = None) -> Any:
    """The improvement a move budget buys: mean inference time (left axis) and blocks loaded (right)
    against K, servers allowed to move (:func:`optim.replan.replan_sweep`).

    Parameters
    ----------
    rows : list of dict
        ``max_moves``, ``objective_s``, ``blocks_loaded`` per K, and ``current_objective_s``.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.0))
    k = [r["max_moves"] for r in rows]
    ax.step(k, [r["objective_s"] for r in rows], where="post", marker="o", color="C0", label="re-planned")
    ax.axhline(rows[0]["current_objective_s"], color="0.5", ls="--", lw=1, label="current placement")
    ax.set_xlabel("K, servers allowed to change their span")
    ax.set_ylabel("mean inference time (s)", color="C0")
    ax.set_xticks(k if len(k) <= 21 else k[:: max(len(k) // 10, 1)])
    ax2 = ax.twinx()
    ax2.bar(k, [r["blocks_loaded"] for r in rows], color="C1", alpha=0.3, width=0.6, label="blocks loaded")
    ax2.set_ylabel("blocks loaded by moved servers", color="C1")
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="center right", fontsize=8)
    ax.set_title("Re-planning with a move budget")
    ax.figure.tight_layout()
    return ax
