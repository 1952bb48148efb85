"""plot_placement draws one bar per server holding blocks, over exactly its span."""
import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

from optim import load_instance, solve  # noqa: E402
from optim.plotting import plot_placement  # noqa: E402
from optim.solution import Solution, Status  # noqa: E402

from conftest import INSTANCES  # noqa: E402


def test_bars_are_the_spans():
    inst = load_instance(INSTANCES / "geo-europe-20.json")
    sol = solve(inst, "petals")
    ax = plot_placement(inst, sol)
    bars = sorted((round(p.get_y() + p.get_height() / 2), p.get_x(), p.get_x() + p.get_width()) for p in ax.patches)
    expect = sorted((j, float(p.start), float(p.end)) for j, p in enumerate(sol.placement) if p.end > p.start)
    assert bars == expect
    with pytest.raises(ValueError, match="no placement"):
        plot_placement(inst, Solution(instance=inst.name, solver="x", status=Status.INFEASIBLE))
