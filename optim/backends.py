"""MILP backends: HiGHS (highspy) and SCIP through OR-Tools, behind one call and one status map.

Every exact solver writes its model once and hands the file to :func:`solve_milp` with a warm
start, a :class:`Deadline` (the time limit is a budget for the whole solver call, model building
included, so the backend gets what is left) and an optional progress callback that receives the
incumbent, the bound and the gap while the search runs. Ctrl-C stops the search and keeps the
incumbent (status ``interrupted``) instead of throwing it away.

Each backend maps its native status to :class:`optim.solution.Status` in one table, as linopy does
(``linopy/constants.py``): HiGHS model statuses
https://ergo-code.github.io/HiGHS/stable/structures/enums/#HighsModelStatus and OR-Tools'
``SolveStatus`` https://developers.google.com/optimization/reference/python/linear_solver/python/model_builder.
"""
from __future__ import annotations

import atexit
import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Callable

import numpy as np

from .solution import Status

#: seconds of the budget kept for reading the incumbent back and validating it
POSTPROCESS_RESERVE_S = 0.5
#: seconds HiGHS gets to stop after Ctrl-C before it is left behind
INTERRUPT_GRACE_S = 1.0
#: HiGHS objects whose solve overran the deadline and was left to finish in its daemon thread (kept
#: alive here: destroying a Highs object while it solves would crash)
_ABANDONED: list = []


def _abandon(h: Any) -> None:
    """Leave a running HiGHS solve to finish in its daemon thread, kept alive and waited for at exit
    (a HiGHS thread alive at interpreter exit aborts the process)."""
    if not _ABANDONED:
        atexit.register(wait_for_abandoned)
    _ABANDONED.append(h)


def has_abandoned() -> bool:
    """Whether a HiGHS solve left behind is still running (the CLI then exits without waiting)."""
    return any(not h.wait(0)[0] for h in _ABANDONED)


def wait_for_abandoned() -> None:
    """Wait for the HiGHS solves left behind at their deadline or on Ctrl-C (they end at their own
    time limit). Called before the next solve, and at exit of a Python process (a HiGHS thread
    alive at exit aborts it); the ``optim`` command exits at once instead (:func:`optim.cli.run`)."""
    while _ABANDONED:
        if _ABANDONED[0].wait(0.1)[0]:
            _ABANDONED.pop(0)

#: ``progress(event)`` with event keys ``incumbent``, ``bound``, ``gap``, ``time_s`` (None when unknown)
MilpProgress = Callable[[dict[str, Any]], None]


class OutOfTime(Exception):
    """Raised by :meth:`Deadline.check` when the budget is spent (caught by the solver that set it)."""


@dataclass
class Deadline:
    """The time budget of one solver call, started when the call starts.

    Parameters
    ----------
    limit_s : float or None
        Seconds for the whole call; None is no limit.
    """

    limit_s: float | None
    start: float = field(default_factory=time.perf_counter)

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.start

    def remaining(self) -> float | None:
        """Seconds left (never negative), or None without a limit."""
        return None if self.limit_s is None else max(self.limit_s - self.elapsed_s, 0.0)

    def expired(self) -> bool:
        r = self.remaining()
        return r is not None and r <= 0.0

    def check(self, what: str = "") -> None:
        """Raise :class:`OutOfTime` when the budget is spent (call between model-building steps)."""
        if self.expired():
            raise OutOfTime(what)


@dataclass
class MilpResult:
    """What a backend returns: status, incumbent values by column name, objective, bound, gap."""

    status: Status
    values: dict[str, float]
    objective: float | None
    bound: float | None
    gap: float | None
    message: str = ""
    run_time_s: float = 0.0


def write_model(model: Any, folder: str) -> tuple[str, dict[tuple, str]]:
    """Write a Pyomo model for the backends; return the path and {(variable, index): column label}.

    CPLEX LP format through Pyomo's LP writer with plain labels (x1, x2, ...): its MPS writer and
    symbolic names took 109 s and 43 s on a 466k-variable model. HiGHS and OR-Tools both read LP."""
    import pyomo.environ as pyo

    path = str(FsPath(folder) / "model.lp")
    _, smap_id = model.write(path, io_options={"symbolic_solver_labels": False})  # format from ".lp"
    smap = model.solutions.symbol_map[smap_id]
    names = {}
    for comp in model.component_objects(pyo.Var, descend_into=True):
        for idx, v in comp.items():
            sym = smap.byObject.get(id(v))
            if sym is not None:
                names[(comp.local_name, idx)] = sym
    return path, names


@contextlib.contextmanager
def native_stdout_silenced():
    """HiGHS prints a banner from C++ on construction whatever its options; keep stdout (and so
    ``--json`` output) clean by pointing file descriptor 1 at /dev/null meanwhile."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) and abs(x) < 1e29 else None


def solve_highs(model_file: str, warm: dict[str, float], deadline: Deadline, mip_gap: float,
                threads: int | None, progress: MilpProgress | None = None,
                options: dict[str, Any] | None = None) -> MilpResult:
    """Solve a model file (LP or MPS) with highspy, warm-started, within what is left of ``deadline``.
    ``options``: further HiGHS options by name (e.g. ``mip_heuristic_effort``).

    The search runs in highspy's solver thread; this thread polls it, reports the incumbent, bound
    and gap to ``progress`` every half second, and on Ctrl-C asks HiGHS to stop and keeps its
    incumbent (status ``interrupted``).
    """
    import highspy

    t_start = time.perf_counter()
    wait_for_abandoned()  # HiGHS runs one solve per process: let an overrun one finish (it is near its limit)
    with native_stdout_silenced():
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        if isinstance(model_file, str):
            h.readModel(model_file)
        else:  # an optim.milp_arrays.ArrayMILP: the arrays go in directly
            h.passModel(model_file.to_highs_lp())
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    remaining = deadline.remaining()
    if remaining is not None:  # keep 2% and 50 ms for reading the answer back
        h.setOptionValue("time_limit", max(0.98 * float(remaining) - 0.05, 1e-3))
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    for name, value in (options or {}).items():
        h.setOptionValue(name, value)
    names = list(h.getLp().col_names_)
    if warm:
        sol = highspy.HighsSolution()
        sol.col_value = [float(warm.get(n, 0.0)) for n in names]
        sol.value_valid = True
        h.setSolution(sol)
    latest: dict[str, Any] = {"incumbent": None, "bound": None, "gap": None, "limit_s": deadline.limit_s}

    def on_mip(e: Any) -> None:
        d = e.data_out
        latest.update(incumbent=_finite(d.mip_primal_bound), bound=_finite(d.mip_dual_bound), gap=_finite(d.mip_gap))

    for event in (h.cbMipInterrupt, h.cbMipImprovingSolution, h.cbMipLogging):
        event.subscribe(on_mip)
    h.HandleUserInterrupt = True  # lets cancelSolve() stop the search at its next callback
    interrupted = out_of_time = False
    interrupted_at = 0.0
    with native_stdout_silenced():
        thread = h.startSolve()
        last = 0.0
        while True:
            try:
                done, _ = h.wait(0.1)
            except KeyboardInterrupt:
                if interrupted:  # a second Ctrl-C: stop waiting at all
                    _abandon(h)
                    raise
                interrupted, interrupted_at = True, time.perf_counter()
                h.cancelSolve()
                continue
            if done:
                break
            if interrupted and time.perf_counter() - interrupted_at > INTERRUPT_GRACE_S:
                # HiGHS has no interrupt point in presolve: return now with what is known
                _abandon(h)
                return MilpResult(Status.INTERRUPTED, {}, None, latest.get("bound"), None,
                                  "interrupted in presolve (no interrupt point there), left to finish in the "
                                  "background", time.perf_counter() - t_start)
            left = deadline.remaining()
            if left is not None and left <= POSTPROCESS_RESERVE_S and not out_of_time:
                # HiGHS checks its own time limit only now and then (2-3 s late in the presolve of a
                # 600k-column model): ask it to stop, keeping time to read the incumbent back
                out_of_time = True
                h.cancelSolve()
            if out_of_time and left is not None and left <= 0:
                # it did not stop (presolve has no interrupt points): leave it to finish in its daemon
                # thread and return now, so the budget holds; an incumbent it has not reported is lost
                _abandon(h)
                if progress is not None:
                    progress({**latest, "time_s": deadline.elapsed_s})
                return MilpResult(Status.TIME_LIMIT, {}, None, latest.get("bound"), None,
                                  "still in presolve at the deadline (no interrupt point there), left to finish "
                                  "in the background", time.perf_counter() - t_start)
            if progress is not None and time.perf_counter() - last >= 0.5:
                last = time.perf_counter()
                progress({**latest, "time_s": deadline.elapsed_s})
        thread.join()
    ms = h.getModelStatus()
    info = h.getInfo()
    has = info.primal_solution_status == 2  # kSolutionStatusFeasible
    values = dict(zip(names, h.getSolution().col_value)) if has else {}
    obj = info.objective_function_value if has else None
    bound = _finite(info.mip_dual_bound)
    gap = _finite(info.mip_gap) if has else None
    S = highspy.HighsModelStatus
    status_map = {S.kOptimal: Status.OPTIMAL, S.kInfeasible: Status.INFEASIBLE, S.kTimeLimit: Status.TIME_LIMIT,
                  S.kInterrupt: Status.INTERRUPTED, S.kSolutionLimit: Status.FEASIBLE,
                  S.kIterationLimit: Status.FEASIBLE, S.kObjectiveBound: Status.FEASIBLE,
                  S.kObjectiveTarget: Status.FEASIBLE}
    if interrupted:
        status = Status.INTERRUPTED
    elif out_of_time and ms in (S.kInterrupt, S.kTimeLimit):
        status = Status.TIME_LIMIT
    else:
        status = status_map.get(ms, Status.FEASIBLE if has else Status.ERROR)
    if status is Status.OPTIMAL and gap is None:
        gap = 0.0
    if progress is not None:
        progress({"incumbent": obj, "bound": bound, "gap": gap, "time_s": deadline.elapsed_s,
                  "limit_s": deadline.limit_s})
    return MilpResult(status, values, obj, bound, gap, h.modelStatusToString(ms), h.getRunTime())


def solve_ortools(model_file: str, warm: dict[str, float], deadline: Deadline, mip_gap: float,
                  threads: int | None, progress: MilpProgress | None = None, engine: str = "scip") -> MilpResult:
    """Solve the same model file with OR-Tools' model builder (SCIP by default), hinted with the
    warm start, within what is left of ``deadline``. OR-Tools reports no progress meanwhile."""
    from ortools.linear_solver.python import model_builder as mb

    if not isinstance(model_file, str):  # an ArrayMILP: OR-Tools reads the MPS file HiGHS writes from it
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            return solve_ortools(model_file.write_mps(str(FsPath(tmp) / "model.mps")), warm, deadline, mip_gap,
                                 threads, progress, engine)
    if model_file.endswith(".lp"):  # OR-Tools' LP reader rejects CPLEX-LP comments: let HiGHS convert to MPS
        import highspy

        with native_stdout_silenced():
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
            h.readModel(model_file)
            model_file = model_file[:-3] + ".mps"
            h.writeModel(model_file)
    model = mb.Model()
    model.import_from_mps_file(model_file)
    variables = [model.var_from_index(i) for i in range(model.num_variables)]
    for v in variables:
        if v.name in warm:
            model.add_hint(v, warm[v.name])
    solver = mb.Solver(engine)
    if not solver.solver_is_supported():
        return MilpResult(Status.ERROR, {}, None, None, None, f"OR-Tools was built without {engine}")
    remaining = deadline.remaining()
    if remaining is not None:
        solver.set_time_limit_in_seconds(max(float(remaining), 1e-3))
    if engine == "scip":
        params = [f"limits/gap = {float(mip_gap)}"] + ([f"parallel/maxnthreads = {int(threads)}"] if threads else [])
        solver.set_solver_specific_parameters("\n".join(params))
    st = solver.solve(model)
    S = mb.SolveStatus
    has = st in (S.OPTIMAL, S.FEASIBLE)
    values = {v.name: float(solver.value(v)) for v in variables} if has else {}
    obj = float(solver.objective_value) if has else None
    bound = _finite(solver.best_objective_bound) if has else None
    gap = None if obj is None or bound is None else max(obj - bound, 0.0) / max(abs(obj), 1e-300)
    if st == S.OPTIMAL:
        status = Status.OPTIMAL
    elif st == S.INFEASIBLE:
        status = Status.INFEASIBLE
    elif st in (S.FEASIBLE, S.NOT_SOLVED):
        status = Status.TIME_LIMIT if remaining is not None and solver.wall_time >= 0.95 * remaining else (
            Status.FEASIBLE if has else Status.ERROR)
    else:
        status = Status.ERROR
    if progress is not None:
        progress({"incumbent": obj, "bound": bound, "gap": gap, "time_s": deadline.elapsed_s,
                  "limit_s": deadline.limit_s})
    return MilpResult(status, values, obj, bound, gap, f"OR-Tools {engine}: {st.name}", float(solver.wall_time))


@dataclass
class LPRelaxation:
    """The LP relaxation of a MILP as :func:`lp_relaxation_bound` solved it."""

    bound: float | None  #: its optimum (a valid lower bound on the MILP's), None when not solved
    seconds: float
    interrupted: bool  #: Ctrl-C stopped it
    values: np.ndarray | None = None  #: the LP's x, shape (n,)
    reduced_costs: np.ndarray | None = None  #: its reduced costs, shape (n,)


def lp_relaxation_bound(model: Any, deadline: Deadline, share: float = 0.5) -> LPRelaxation:
    """The LP relaxation of an :class:`optim.milp_arrays.ArrayMILP` (its optimum is a valid lower
    bound on the MILP's), with HiGHS' dual simplex, within ``share`` of what is left of ``deadline``.

    Dual simplex, measured against interior point and PDLP on the BPRR models of the shipped
    instances: 2.3-9.5 s where IPM took 15-19 s and PDLP 2-120 s (and PDLP's value is not an
    exact bound). Ctrl-C stops it at once (HiGHS' solver thread is cancelled).

    Returns
    -------
    LPRelaxation
    """
    import highspy

    t0 = time.perf_counter()
    wait_for_abandoned()  # highspy allows one solve per process at a time
    lp = model.to_highs_lp()
    lp.integrality_ = []
    interrupted = False
    with native_stdout_silenced():
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("solver", "simplex")
        h.setOptionValue("simplex_strategy", 1)  # dual
        left = deadline.remaining()
        if left is not None:
            h.setOptionValue("time_limit", max(share * float(left), 1e-3))
        h.passModel(lp)
        h.HandleUserInterrupt = True
        thread = h.startSolve()
        while True:
            try:
                done, _ = h.wait(0.1)
            except KeyboardInterrupt:
                interrupted = True
                h.cancelSolve()
                continue
            if done:
                break
        thread.join()
    ok = h.getModelStatus() == highspy.HighsModelStatus.kOptimal and not interrupted
    if not ok:
        return LPRelaxation(None, time.perf_counter() - t0, interrupted)
    sol = h.getSolution()
    return LPRelaxation(float(h.getInfo().objective_function_value), time.perf_counter() - t0, False,
                        np.asarray(sol.col_value), np.asarray(sol.col_dual))


@dataclass(frozen=True)
class Backend:
    """A MILP backend: its name, its solve function, and whether it can run here."""

    name: str
    solve: Callable[..., MilpResult]
    module: str
    description: str

    def is_available(self) -> bool:
        """Whether the backend's Python package imports (fails safe: False on any import error)."""
        try:
            __import__(self.module)
        except Exception:  # noqa: BLE001  (any failure to import means unavailable)
            return False
        return True


BACKENDS: dict[str, Backend] = {
    "highs": Backend("highs", solve_highs, "highspy", "HiGHS through highspy (progress, Ctrl-C keeps the incumbent)"),
    "ortools": Backend("ortools", solve_ortools, "ortools.linear_solver.python.model_builder",
                       "SCIP through OR-Tools' model builder"),
}


def solve_milp(backend: str, model_file: Any, warm: dict[str, float], deadline: Deadline, mip_gap: float,
               threads: int | None, progress: MilpProgress | None = None,
               highs_options: dict[str, Any] | None = None) -> MilpResult:
    """Solve a model (a file path, or an :class:`optim.milp_arrays.ArrayMILP`) with the named backend.
    ``highs_options`` (HiGHS option names and values) apply to the ``highs`` backend only.

    Raises
    ------
    SolverUnavailableError
        The backend's package cannot be imported here.
    """
    from .errors import SolverUnavailableError

    b = BACKENDS[backend]
    if not b.is_available():
        raise SolverUnavailableError(f"MILP backend {backend!r} is not available: cannot import {b.module}")
    if highs_options and backend == "highs":
        return b.solve(model_file, warm, deadline, mip_gap, threads, progress, options=highs_options)
    return b.solve(model_file, warm, deadline, mip_gap, threads, progress)
