"""Benchmark sweeps: instance generators x parameters x seeds x solvers, solved, validated,
evaluated, optionally simulated; one tidy row per run; run in-process or on a Dask cluster.

A sweep specification (YAML or JSON, format ``optim-sweep/1``)::

    name: quick
    instances:
      - generator: geo                # geo | clustered | random | file
        params: {servers: [10, 20], region: europe, eta: 0.2}
        seeds: [0, 1]
    solvers:
      - name: cg-bprr
      - name: bprr-milp
        label: bprr-milp-5s           # the name in the table, when one solver runs with several settings
        options: {time_limit: 5}
    simulate: {requests: 1000, policy: jffc}   # optional

Lists in ``params`` are crossed (every combination); ``seeds`` seed the generator and every solver
that takes a ``seed`` option (unless its options set one). Generator parameters are the keyword
arguments of :func:`optim.generators.geo_instance`, :func:`~optim.generators.clustered_instance`,
:func:`~optim.generators.random_instance` (``servers`` and ``clients`` stand for ``num_servers`` and
``num_clients``); ``file`` takes ``path`` (relative to the specification).

Every run has a ``run_id``, a hash of everything that defines it, so a re-run skips the runs already
in the results file; a run that raises is recorded with status ``failed`` and its error, and the
sweep goes on. Results are written atomically (Parquet or CSV, by suffix) every few seconds, so an
interrupted sweep loses at most the runs in flight.
"""
from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import OptimError
from .io import write_atomic

SWEEP_FORMAT = "optim-sweep/1"
GENERATORS = ("geo", "clustered", "random", "file")
ALIASES = {"servers": "num_servers", "clients": "num_clients"}
#: Columns whose values do not depend on timing: equal for the same sweep run anywhere (solvers
#: stopped by a time limit aside).
TIMING_COLUMNS = ("solve_time_s", "wall_time_s")


class InvalidSweepError(OptimError):
    """A sweep specification that cannot run: names the field and the reason."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InstanceFamily(_Strict):
    """One generator with its parameters (lists are crossed) and seeds."""

    generator: Literal["geo", "clustered", "random", "topology", "file"]
    params: dict[str, Any] = Field(default_factory=dict)
    seeds: list[Annotated[int, Field(ge=0, le=2**32 - 1)]] = Field(default_factory=lambda: [0], min_length=1,
                                                                    max_length=100_000)

    @field_validator("seeds")
    @classmethod
    def _seeds_unique(cls, v: list[int]) -> list[int]:
        dup = sorted({x for x in v if v.count(x) > 1})
        if dup:
            raise ValueError(f"seeds {dup} repeat; each seed gives one run, so list it once")
        return v


class SolverRun(_Strict):
    """One solver with fixed options; ``label`` names it in the results (default: the solver name)."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None


class SimulateSpec(_Strict):
    """Simulation of every solved run (see :func:`optim.simulate.simulate`)."""

    policy: str = "jffc"
    arrivals: Literal["poisson", "trace"] = "poisson"
    service: Literal["model", "exponential"] = "model"
    lengths: Literal["instance", "trace"] | None = None
    requests: int = Field(1000, ge=1, le=10_000_000)
    replications: int = Field(1, ge=1, le=10_000)

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, v: str) -> str:
        from .errors import InvalidOptionError
        from .simulate import check_policy

        try:
            return check_policy(v)
        except InvalidOptionError as err:
            raise ValueError(str(err).removeprefix("policy: ")) from None


class SweepSpec(_Strict):
    """A sweep: instance families x solvers, optionally simulated."""

    format: Literal["optim-sweep/1"] = SWEEP_FORMAT
    name: str
    description: str = ""
    instances: list[InstanceFamily] = Field(min_length=1)
    solvers: list[SolverRun] = Field(min_length=1)
    simulate: SimulateSpec | None = None

    @field_validator("solvers")
    @classmethod
    def _labels_unique(cls, v: list[SolverRun]) -> list[SolverRun]:
        labels = [s.label or s.name for s in v]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"solver labels {dup} repeat; give each setting its own 'label'")
        return v


def _generator(name: str) -> Callable:
    from . import generators

    return generators.GENERATORS[name]


def _check_spec(spec: SweepSpec, source: str) -> None:
    """Check what pydantic cannot: generator parameters, solver names and options."""
    from .errors import InvalidOptionError, UnknownSolverError
    from .solvers import get_solver

    problems = []
    for i, fam in enumerate(spec.instances):
        if fam.generator == "file":
            if set(fam.params) != {"path"}:
                problems.append(f"instances[{i}].params: {sorted(fam.params)}; generator 'file' takes only 'path'")
            continue
        allowed = set(inspect.signature(_generator(fam.generator)).parameters) - {"name"}
        for key in fam.params:
            if ALIASES.get(key, key) not in allowed or key in RESULT_COLUMNS:
                problems.append(f"instances[{i}].params.{key}: not a parameter of generator {fam.generator!r}; "
                                f"expected one of {', '.join(sorted(allowed | {'servers', 'clients'}))}")
    for i, s in enumerate(spec.solvers):
        try:
            info = get_solver(s.name)
        except UnknownSolverError as err:
            problems.append(f"solvers[{i}].name: {err}")
            continue
        try:
            info.check_options(dict(s.options))
        except InvalidOptionError as err:
            problems.append(f"solvers[{i}].options: {err}")
    if problems:
        raise InvalidSweepError(f"{source}: invalid sweep specification:\n  " + "\n  ".join(problems))


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep specification (YAML or JSON).

    Raises
    ------
    InvalidSweepError
        Unreadable file, malformed YAML, a field of the wrong type, an unknown generator parameter,
        solver or solver option; the message names each field and the reason.
    """
    from .errors import InvalidInstanceError
    from .io import read_yaml

    p = Path(path)
    try:
        data = read_yaml(p, "sweep specification")
    except InvalidInstanceError as err:
        raise InvalidSweepError(str(err)) from None
    if not isinstance(data, dict):
        raise InvalidSweepError(f"{p}: a sweep specification is a mapping with 'name', 'instances' and 'solvers'")
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as err:
        lines = [f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']} (got {e.get('input')!r})"
                 for e in err.errors()]
        raise InvalidSweepError(f"{p}: invalid sweep specification:\n  " + "\n  ".join(lines)) from None
    if any(f.generator == "file" for f in spec.instances):  # resolve instance paths against the spec's folder
        fams = [f.model_copy(update={"params": {"path": str((p.parent / f.params["path"]).resolve())}})
                if f.generator == "file" and "path" in f.params else f for f in spec.instances]
        spec = spec.model_copy(update={"instances": fams})
    _check_spec(spec, str(p))
    return spec


def _digest(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def expand(spec: SweepSpec) -> list[dict]:
    """Every run of a sweep, in a fixed order: family, parameter combination, seed, solver.

    Returns
    -------
    list of dict
        ``run_id``, ``instance_id``, ``generator``, ``params`` (concrete), ``seed``, ``solver``,
        ``label``, ``options``, ``simulate`` (dict or None), ``sweep``. Plain data, so runs can be
        shipped to Dask workers.
    """
    runs = []
    sim = spec.simulate.model_dump() if spec.simulate else None
    for fam in spec.instances:
        keys = sorted(fam.params)
        grids = [v if isinstance(v, list) else [v] for v in (fam.params[k] for k in keys)]
        for combo in itertools.product(*grids):
            params = dict(zip(keys, combo))
            for seed in fam.seeds:
                inst_def = {"generator": fam.generator, "params": params, "seed": seed}
                instance_id = _digest(inst_def)
                for s in spec.solvers:
                    run = {**inst_def, "instance_id": instance_id, "solver": s.name, "label": s.label or s.name,
                           "options": dict(s.options), "simulate": sim, "sweep": spec.name}
                    run["run_id"] = _digest({k: run[k] for k in ("generator", "params", "seed", "solver", "label",
                                                                  "options", "simulate")})
                    runs.append(run)
    return runs


def build_instance(run: dict):
    """The instance of a run: the generator called with its parameters and seed (or the file)."""
    from .instance import load_instance

    if run["generator"] == "file":
        return load_instance(run["params"]["path"])
    func = _generator(run["generator"])
    kwargs = {ALIASES.get(k, k): v for k, v in run["params"].items()}
    if "seed" in inspect.signature(func).parameters:
        kwargs.setdefault("seed", run["seed"])
    return func(**kwargs)


RESULT_COLUMNS = (
    "run_id", "sweep", "instance_id", "generator", "seed", "instance", "num_servers", "num_clients", "num_blocks",
    "arrival_rate_per_s", "solver", "solver_name", "options", "status", "feasible", "objective", "objective_name",
    "bound", "gap", "solve_time_s", "mean_inference_time_s", "mean_inference_time_no_wait_s",
    "mean_decode_time_per_token_s", "servers_used", "nu_per_s", "rho", "response_time_lower_s",
    "response_time_upper_s", "sim_mean_response_s", "sim_p95_response_s", "sim_requests", "message", "error",
    "wall_time_s")


def _identity(run: dict) -> dict[str, Any]:
    """The columns that say which run a row is: ids, generator, seed, parameters (lists and mappings
    as their JSON text), solver label and name, options (JSON)."""
    params = {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in run["params"].items()}
    return {"run_id": run["run_id"], "sweep": run["sweep"], "instance_id": run["instance_id"],
            "generator": run["generator"], "seed": run["seed"], **params, "solver": run["label"],
            "solver_name": run["solver"], "options": json.dumps(run["options"], sort_keys=True)}


def run_one(run: dict) -> dict:
    """Run one sweep entry and return its row; never raises (a failure is a row with its error).

    The row: the run's identity and instance parameters, the solver's status, objective, bound, gap
    and time, the validator's metrics (mean inference time with and without waiting, decode time per
    token), the queueing metrics of its chains (nu, rho, Theorem-4 bounds on the mean response time),
    and, when asked, the simulated mean and P95 response time.
    """
    from .simulate import simulate
    from .solvers import get_solver, solve
    from .validate import evaluate

    t0 = time.perf_counter()
    row = _identity(run)
    try:
        inst = build_instance(run)
        row.update(instance=inst.name, num_servers=inst.num_servers, num_clients=inst.num_clients,
                   num_blocks=inst.num_blocks, arrival_rate_per_s=inst.total_arrival_rate)
        options = dict(run["options"])
        if "seed" in get_solver(run["solver"]).options:
            options.setdefault("seed", run["seed"])
        sol = solve(inst, run["solver"], **options)
        row.update(status=sol.status.value, objective=sol.objective, objective_name=sol.objective_name,
                   bound=sol.bound, gap=sol.gap, solve_time_s=sol.solve_time_s, message=sol.message or None)
        if sol.has_solution:
            ev = evaluate(inst, sol)
            row["feasible"] = ev.feasible
            for k in ("mean_inference_time_s", "mean_inference_time_no_wait_s", "mean_decode_time_per_token_s",
                      "servers_used"):
                row[k] = ev.summary.get(k)
            for k in ("nu_per_s", "rho", "response_time_lower_s", "response_time_upper_s"):
                row[k] = ev.queueing.get(k)
            sim = run.get("simulate")
            if sim and ev.feasible and ev.queueing.get("rho", np.inf) < 1:
                res = simulate(inst, sol, seed=run["seed"], **sim)
                row.update(sim_mean_response_s=res.summary["response_s"]["mean"],
                           sim_p95_response_s=res.summary["response_s"]["p95"], sim_requests=sim["requests"])
    except Exception as err:  # recorded, so the sweep goes on
        row.update(status="failed", error=f"{type(err).__name__}: {err}",
                   message="".join(traceback.format_exception_only(type(err), err)).strip()[:2000])
    row["wall_time_s"] = time.perf_counter() - t0
    return row


@dataclass
class SweepResult:
    """Outcome of :func:`run_sweep`: the whole table (earlier runs included) and what this call did."""

    table: pd.DataFrame
    ran: int
    skipped: int
    failed: int


def read_results(path: str | Path) -> pd.DataFrame:
    """Read a results table (Parquet or CSV, by suffix).

    Raises
    ------
    InvalidSweepError
        Unreadable, or not a results table (no ``run_id`` column).
    """
    p = Path(path)
    try:
        df = pd.read_csv(p) if p.suffix.lower() == ".csv" else pd.read_parquet(p)
    except FileNotFoundError:
        raise InvalidSweepError(f"{p}: no such results file") from None
    except Exception as err:
        raise InvalidSweepError(f"{p}: cannot read the results ({type(err).__name__}: {err})") from None
    if "run_id" not in df.columns:
        raise InvalidSweepError(f"{p}: not an optim bench results table (no 'run_id' column)")
    # a row cut short (a CSV truncated mid-row) has no status or wall time: not a finished run
    finished = df["status"].notna() & df["run_id"].notna() if "status" in df.columns else df["run_id"].isna()
    if "wall_time_s" in df.columns:
        finished &= df["wall_time_s"].notna()
    return df[finished].reset_index(drop=True)


def _missing(v: Any) -> bool:
    """None or NaN: an empty cell."""
    return v is None or (isinstance(v, float) and np.isnan(v))


def write_results(df: pd.DataFrame, path: str | Path) -> None:
    """Write a results table atomically: Parquet, or CSV when the suffix is ``.csv``."""
    p = Path(path)
    if p.suffix.lower() == ".csv":
        write_atomic(p, df.to_csv(index=False))
        return
    df = df.copy()
    for col in df.columns[df.dtypes == object]:  # Parquet needs one type per column
        if len({type(v) for v in df[col] if not _missing(v)}) > 1:
            df[col] = [None if _missing(v) else str(v) for v in df[col]]
    write_atomic(p, df.to_parquet(index=False))


def _table(rows: list[dict], order: list[str]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    df = pd.DataFrame(rows)
    first = [c for c in RESULT_COLUMNS[:5] if c in df.columns]
    cols = first + [c for c in df.columns if c not in RESULT_COLUMNS] + [c for c in RESULT_COLUMNS[5:] if c in df.columns]
    rank = {rid: i for i, rid in enumerate(order)}
    df = df[cols]
    return df.iloc[np.argsort([rank.get(r, len(rank)) for r in df["run_id"]], kind="stable")].reset_index(drop=True)


def run_sweep(spec: SweepSpec, output: str | Path | None = None, *, scheduler: str | None = None,
              workers: int | None = None, retry_failed: bool = False, save_every_s: float = 2.0,
              progress: Callable[[int, int, dict], None] | None = None) -> SweepResult:
    """Run every run of ``spec`` not already in ``output``.

    Parameters
    ----------
    spec : SweepSpec
    output : path, optional
        Results file (``.parquet`` or ``.csv``); read first to skip finished runs, rewritten
        atomically every ``save_every_s`` seconds and at the end (also on interruption).
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:8786``); the runs go to its workers.
    workers : int, optional
        Start a local Dask cluster of this many single-threaded worker processes.
        Neither: the runs go one after another in this process.
    retry_failed : bool
        Run again the runs recorded as failed.
    progress : callable(done, total, row), optional
        Called after each run.

    Returns
    -------
    SweepResult
        Rows in the sweep's order, whoever ran them, so local and Dask results line up.
    """
    runs = expand(spec)
    order = [r["run_id"] for r in runs]
    old: list[dict] = []
    if output is not None and Path(output).exists():
        prev = read_results(output)
        keep = prev if not retry_failed else prev[prev["status"] != "failed"]
        old = [{k: v for k, v in r.items() if not (isinstance(v, float) and np.isnan(v))}  # NaN: a cell the run never set
               for r in keep.to_dict("records")]
    done_ids = {r["run_id"] for r in old}
    todo = [r for r in runs if r["run_id"] not in done_ids]
    new: list[dict] = []
    last_save = time.monotonic()

    def record(row: dict) -> None:
        nonlocal last_save
        new.append(row)
        if progress is not None:
            progress(len(new), len(todo), row)
        if output is not None and time.monotonic() - last_save >= save_every_s:
            write_results(_table(old + new, order), output)
            last_save = time.monotonic()

    try:
        if scheduler is None and workers is None:
            for run in todo:
                record(run_one(run))
        else:
            _run_on_dask(todo, record, scheduler, workers)
    finally:
        table = _table(old + new, order)
        if output is not None and (new or not Path(output).exists()):
            write_results(table, output)
    return SweepResult(table, ran=len(new), skipped=len(runs) - len(todo),
                       failed=sum(r.get("status") == "failed" for r in new))


def _run_on_dask(todo: list[dict], record: Callable[[dict], None], scheduler: str | None,
                 workers: int | None) -> None:
    """Submit every run to Dask and record rows as they complete (a lost worker is a failed row)."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        import logging

        # warnings of cancelled tasks and killed workers on Ctrl-C are noise: the rows say what ran
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        futures = client.map(run_one, todo, pure=False)
        run_of = {f.key: r for f, r in zip(futures, todo)}
        for fut in as_completed(futures):
            try:
                row = fut.result()
            except Exception as err:  # the worker died or the task was lost
                row = {**_identity(run_of[fut.key]), "status": "failed", "error": f"{type(err).__name__}: {err}",
                       "wall_time_s": 0.0}
            record(row)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ---------------------------------------------------------------------------------------------
# report

#: statuses that may come with a solution (whether one came is the ``feasible`` column)
SOLVED_STATUSES = ("optimal", "feasible", "time_limit", "interrupted")


def comparison(df: pd.DataFrame, metric: str = "mean_inference_time_s") -> pd.DataFrame:
    """Per solver: runs, failures, mean rank, wins, mean gap to the best, median solve time.

    Each instance (``instance_id``) ranks the solvers that produced a feasible solution by ``metric``
    (in its direction, :data:`optim.metrics.METRICS`: lower or higher is better; ties share the
    average rank; a solver without a solution ranks last). The gap to the best is
    ``|metric - best| / |best|`` on that instance. The gap to the best bound: where some run
    on the instance reports a lower bound on a time its rows carry (``bound`` with an
    ``objective_name`` such as ``mean_decode_time_per_token_s``, from bprr-milp), every solver's value
    of that time over the highest such bound, minus 1. A negative gap means a solution outside that
    problem (e.g. a cache over-committed by the routing, which the bound does not allow).

    Returns
    -------
    DataFrame indexed by solver, sorted by mean rank.
    """
    from .metrics import get_metric

    higher = get_metric(metric).higher_is_better
    d = df.copy()
    ok = (d["status"].isin(SOLVED_STATUSES)) & (d.get("feasible") == True)  # noqa: E712
    d["_metric"] = np.where(ok, pd.to_numeric(d.get(metric), errors="coerce"), np.nan)
    d["rank"] = d.groupby("instance_id")["_metric"].rank(method="average", na_option="bottom", ascending=not higher)
    best = d.groupby("instance_id")["_metric"].transform("max" if higher else "min")
    d["gap_to_best"] = (d["_metric"] - best).abs() / best.abs()
    d["win"] = ok & np.isclose(d["_metric"], best, rtol=1e-9, atol=0)
    d["gap_to_bound"] = np.nan
    if "bound" in d and "objective_name" in d:
        bounded = d[pd.to_numeric(d["bound"], errors="coerce").notna() & d["objective_name"].str.startswith("mean_")
                    & d["objective_name"].isin(d.columns)]
        for iid, rows in bounded.groupby("instance_id"):
            name = rows["objective_name"].iloc[0]  # one bounded time per instance; the first if several
            best_bound = pd.to_numeric(rows.loc[rows["objective_name"] == name, "bound"]).max()
            m = ok & (d["instance_id"] == iid)
            d.loc[m, "gap_to_bound"] = pd.to_numeric(d.loc[m, name], errors="coerce") / best_bound - 1.0
    g = d.groupby("solver")
    out = pd.DataFrame({
        "runs": g.size(),
        "failed": g["status"].apply(lambda s: int((s == "failed").sum())),
        "time_limited": g["status"].apply(lambda s: int(s.isin(["time_limit", "interrupted"]).sum())),
        "no_solution": g.apply(lambda x: int((~(x["status"].isin(SOLVED_STATUSES) & (x.get("feasible") == True))
                                              & (x["status"] != "failed")).sum()), include_groups=False),  # noqa: E712
        "mean_rank": g["rank"].mean(),
        "wins": g["win"].sum().astype(int),
        "mean_gap_to_best_pct": 100 * g["gap_to_best"].mean(),
        "mean_gap_to_bound_pct": 100 * g["gap_to_bound"].mean(),
        "median_solve_time_s": pd.to_numeric(d["solve_time_s"], errors="coerce").groupby(d["solver"]).median(),
        f"{metric} (mean)": g["_metric"].mean(),
    })
    return out.sort_values("mean_rank")


def plot_report(df: pd.DataFrame, folder: str | Path, metric: str = "mean_inference_time_s") -> list[Path]:
    """Write the report's plots into ``folder`` (created) and return the files written.

    - ``objective_vs_servers.png``: ``metric`` against the number of servers;
    - ``time_vs_servers.png``: solve time against servers, log-log;
    - ``response_vs_load.png``: mean response time (simulated, else the Theorem-4 lower bound)
      against the load rho.

    One colour per solver and one line style and marker per instance family (generator); the mean over the
    runs at each size is drawn, and runs stopped by their time limit (or that skipped the model,
    returning a warm start) are marked with hollow red circles, so a MILP that gave up never
    looks like the fastest. A plot without data is skipped.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import save_figure_atomic
    from .metrics import METRICS, get_metric

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    d = df[df["status"].isin(SOLVED_STATUSES)].copy()
    if "generator" not in d:
        d["generator"] = "instances"
    d["generator"] = d["generator"].fillna("instances").astype(str)
    styles = {g: ls for g, ls in zip(sorted(d["generator"].unique()), ["-", "--", ":", "-."] * 10)}
    markers = {g: mk for g, mk in zip(sorted(d["generator"].unique()), ["o", "s", "^", "D", "v", "P"] * 10)}
    solvers = sorted(d["solver"].astype(str).unique()) if len(d) else []
    colours = {s: f"C{i % 10}" for i, s in enumerate(solvers)}
    stopped = d["status"].isin(["time_limit", "interrupted"])
    written: list[Path] = []

    def finish(fig, ax, fname: str, title: str) -> None:
        handles, labels = ax.get_legend_handles_labels()
        if stopped.any():
            handles.append(plt.Line2D([], [], marker="o", ls="", mfc="none", mec="red", ms=9))
            labels.append("stopped at its time limit (or skipped a model too large for it)")
        ax.legend(handles, labels, fontsize=7, loc="best")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which="both")
        fig.tight_layout()
        save_figure_atomic(fig, folder / fname)
        plt.close(fig)
        written.append(folder / fname)

    def lines(ax, ycol: str, xcol: str = "num_servers") -> bool:
        if d.empty or ycol not in d or xcol not in d:
            return False
        data = d.assign(_y=pd.to_numeric(d[ycol], errors="coerce"), _x=pd.to_numeric(d[xcol], errors="coerce"))
        data = data.dropna(subset=["_x", "_y"]).assign(_stopped=stopped)
        if data.empty:
            return False
        groups = list(data.groupby(["solver", "generator"]))
        n = len(groups)
        drawn: dict[str, list] = {}  # per generator: (solver, means) already drawn
        for k, ((solver, gen), x) in enumerate(groups):
            m = x.groupby("_x").agg(y=("_y", "mean"), stopped=("_stopped", "any"))
            label = f"{solver} ({gen})" if len(styles) > 1 else str(solver)
            same = next((other for other, prev in drawn.get(gen, []) if prev.index.equals(m.index)
                         and np.allclose(prev.to_numpy(), m["y"].to_numpy(), rtol=1e-9, atol=0.0)), None)
            if same is not None:  # drawn on top of an identical line: say so, or the reader looks for it
                label += f", same as {same}"
            drawn.setdefault(gen, []).append((str(solver), m["y"]))
            # earlier lines wider, so a later line over the same values leaves them visible around it
            wide = (n - 1 - k) / max(n - 1, 1)
            ax.plot(m.index, m["y"], marker=markers[gen], ms=4 + 4 * wide, lw=1.2 + 2.8 * wide, ls=styles[gen],
                    color=colours[str(solver)], label=label, alpha=0.9)
            st = m[m["stopped"]]  # a mean over runs of which one or more stopped at the limit
            ax.plot(st.index, st["y"], "o", mfc="none", mec="red", ms=9)
        return True

    m = get_metric(metric)
    n_inst = d["instance_id"].nunique() if "instance_id" in d else 0
    for fname, ycol, ylabel, title, loglog in (
            ("objective_vs_servers.png", metric, m.axis_label + (" (higher is better)" if m.higher_is_better else
                                                                   " (lower is better)"),
             f"{m.label} against swarm size ({n_inst} instances)", False),
            ("time_vs_servers.png", "solve_time_s", "solve time (s)", "solver time against swarm size", True)):
        fig, ax = plt.subplots(figsize=(7.0, 4.5))
        if not lines(ax, ycol):
            plt.close(fig)
            continue
        ax.set_xlabel("servers in the instance")
        ax.set_ylabel(ylabel)
        xs = pd.to_numeric(d["num_servers"], errors="coerce").dropna()
        if loglog:
            ax.set_xscale("log")
            ax.set_yscale("log")
        elif len(xs) and xs.max() / max(xs.min(), 1) > 20:
            ax.set_xscale("log")
        if ax.get_xscale() == "log":  # plain server counts on the axis, not 2 x 10^1
            from matplotlib.ticker import ScalarFormatter

            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(ScalarFormatter())
        finish(fig, ax, fname, title)

    ycol = "sim_mean_response_s" if "sim_mean_response_s" in d and d["sim_mean_response_s"].notna().any() \
        else "response_time_lower_s"
    if ycol in d and "rho" in d and d[ycol].notna().any():
        fig, ax = plt.subplots(figsize=(7.0, 4.5))
        for (solver, gen), x in sorted(d.dropna(subset=[ycol, "rho"]).groupby(["solver", "generator"])):
            x = x.sort_values("rho")
            ax.plot(x["rho"], x[ycol], marker=markers[gen], ls="", color=colours[str(solver)], alpha=0.8,
                    label=f"{solver} ({gen})" if len(styles) > 1 else str(solver))
        ax.set_xlabel(METRICS["rho"].axis_label)
        ax.set_ylabel(METRICS[ycol].axis_label)
        ax.set_xscale("log")
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # labels at 1, 2, 5 x 10^k only
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        finish(fig, ax, "response_vs_load.png", "mean response time against load" +
               (" (simulated)" if ycol.startswith("sim") else " (Theorem-4 lower bound)"))
    return written
