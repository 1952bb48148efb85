"""The ``optim`` command line: a thin layer over the Python API.

Exit codes (one map, :class:`OptimGroup`): 0 solved / ok; 1 infeasible or no solution; 2 bad input
(a one-paragraph message naming the field or option, the value and what was expected, never a
traceback); 3 an internal error (one line asking for a report; ``--debug`` shows the traceback);
130 interrupted by Ctrl-C.

Only click is imported when the module loads, so ``optim --help`` starts fast; every command
imports what it uses (Pyomo, pymoo, Dask and simpy only in the commands that need them).
"""
from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from .instance import Instance
    from .solution import Solution

EXIT_OK, EXIT_INFEASIBLE, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
#: the defaults of nsga2's options, repeated here so that ``--help`` does not import the solver
#: (tests/test_contract.py checks they agree)
DEFAULT_OBJECTIVES = ("latency", "nu", "free_memory")
SEED_SOLVERS = ("petals", "cg-bprr", "gbp-cr")
#: table columns holding ids or names, never wrapped or cut
ID_COLUMNS = ("server", "solver", "name", "policy", "option", "point")
ISSUES_URL = "https://github.com/optim-project/optim/issues"


class _LazyConsole:
    """A rich Console made on first use (rich.console is slow to import)."""

    def __init__(self, stderr: bool):
        self._stderr = stderr
        self._console = None

    def get(self) -> Any:
        """The rich Console itself (for rich.progress)."""
        if self._console is None:
            from rich.console import Console

            width = None if (sys.stderr if self._stderr else sys.stdout).isatty() else 200  # no wrapping when piped
            self._console = Console(stderr=self._stderr, highlight=False, width=width)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


out = _LazyConsole(stderr=False)
err = _LazyConsole(stderr=True)


def Table(*args: Any, **kwargs: Any) -> Any:  # noqa: N802  (stands in for rich's Table)
    """A rich table that shows user strings (server ids, names) literally and never cuts them."""
    from rich.markup import escape
    from rich.table import Table as RichTable

    class SafeTable(RichTable):
        def __init__(self, *a: Any, title: str | None = None, **kw: Any):
            super().__init__(*a, title=escape(title) if title else None, **kw)

        def add_column(self, header: str = "", **kw: Any) -> None:  # type: ignore[override]
            kw.setdefault("overflow", "fold")
            if header in ID_COLUMNS:  # ids and names stay whole on one line; other columns give way
                kw.setdefault("no_wrap", True)
            super().add_column(escape(header), **kw)

        def add_row(self, *cells: Any, **kw: Any) -> None:  # type: ignore[override]
            super().add_row(*(escape(c) if isinstance(c, str) else c for c in cells), **kw)

    return SafeTable(*args, **kwargs)


def _escape(text: str) -> str:
    """User strings shown literally in rich markup (a server named ``[/]`` is a name, not a tag)."""
    from rich.markup import escape

    return escape(str(text))


def _fail(message: str, code: int) -> None:
    err.print(message, markup=False, soft_wrap=True)
    sys.exit(code)


class OptimGroup(click.Group):
    """The one error map: optim's input errors exit 2, Ctrl-C 130, anything else 3 (an internal error)."""

    def invoke(self, ctx: click.Context) -> Any:
        code = 0
        try:
            return self._mapped_invoke(ctx)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            raise
        except click.exceptions.Exit as e:
            code = e.exit_code
            raise
        except click.ClickException as e:
            code = e.exit_code
            raise
        finally:
            if ctx.obj and ctx.obj.get("process"):
                _exit_now_if_solves_left_behind(code)

    def _mapped_invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            _fail("interrupted", EXIT_INTERRUPTED)
        except Exception as e:  # noqa: BLE001  (the map: every exception ends in a message and a code)
            from .errors import OptimError

            if isinstance(e, OptimError):
                _fail(f"error: {e}", EXIT_BAD_INPUT)
            if isinstance(e, OSError):
                _fail(f"error: {e.filename or ''}: {e.strerror or e}", EXIT_BAD_INPUT)
            if ctx.obj and ctx.obj.get("debug"):
                import traceback

                traceback.print_exc()
            _fail(f"internal error: {type(e).__name__}: {e}. This is a bug in optim: please report it with the "
                  f"command and its input at {ISSUES_URL} (--debug shows the traceback).", EXIT_INTERNAL)


@click.group(cls=OptimGroup)
@click.version_option(package_name="optim")
@click.option("--debug", is_flag=True, envvar="OPTIM_DEBUG", help="Show the traceback of an internal error.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Place transformer blocks on distributed GPU servers and route requests through them."""
    ctx.ensure_object(dict)["debug"] = debug


def _exit_now_if_solves_left_behind(code: int) -> None:
    """A HiGHS solve left running at its deadline or on Ctrl-C would hold the process until its own
    time limit (and a HiGHS thread alive at interpreter exit aborts it): the output is complete,
    so leave at once."""
    backends = sys.modules.get("optim.backends")
    if backends is not None and backends.has_abandoned():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run() -> None:
    """The ``optim`` command (console script): :data:`main` as a process of its own."""
    main(obj={"process": True})


def load_instance(path: str) -> "Instance":
    from .instance import load_instance as load

    return load(path)


def load_solution(path: str, inst: "Instance | None" = None) -> "Solution":
    """Read a solution file; with ``inst``, say on stderr when it was made for another instance
    (its ``instance`` name differs), since it is then checked against one it was not solved for."""
    from .solution import load_solution as load

    sol = load(path)
    if inst is not None and sol.instance and sol.instance != inst.name:
        click.echo(f"note: {path} was solved for instance {sol.instance!r}; it is used with {inst.name!r}", err=True)
    return sol


def evaluate(inst: "Instance", sol: "Solution") -> Any:
    from .validate import evaluate as ev

    return ev(inst, sol)


def get_solver(name: str) -> Any:
    from .solvers import get_solver as get

    return get(name)


def _registry() -> dict:
    from .solvers import REGISTRY

    return REGISTRY


def write_json_atomic(path: str, data: Any) -> None:
    from .io import write_json_atomic as write

    write(path, data)


def save_figure_atomic(fig: Any, path: str) -> None:
    from .io import save_figure_atomic as save

    save(fig, path)


def _check_outputs(**paths: str | None) -> None:
    """Refuse unwritable output paths before any work (exit 2)."""
    from .io import check_output_path

    for what, path in paths.items():
        if path:
            check_output_path(path, f"--{what.replace('_', '-')}")


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, allow_nan=False, default=str))


def _fmt(x: Any, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and x != x) else f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _rate(x: float) -> str:
    """A rate for people: 3 significant digits, and 0 below a billionth (the equilibrium's round-off)."""
    return "0" if abs(x) < 1e-9 else f"{x:.3g}"


def _show_progress(bar: Any, task: Any, name: str, event: dict) -> None:
    """One progress line: generations for NSGA-II; time, incumbent, bound and gap for a MILP."""
    if "done" in event:
        bar.update(task, completed=event["done"], total=event.get("total"))
        return
    parts = [f"{name}: {event.get('time_s', 0):.0f} s" + (f" of {event['limit_s']:g} s" if event.get("limit_s") else "")]
    for key in ("incumbent", "bound"):
        if event.get(key) is not None:
            parts.append(f"{key} {event[key]:.6g}")
    if event.get("gap") is not None:
        parts.append(f"gap {100 * event['gap']:.2f}%")
    bar.update(task, description=_escape(", ".join(parts)))


#: rows of the placement table printed before it says how many more there are
MAX_TABLE_ROWS = 60


def _placement_table(inst: Instance, sol: Solution, ev) -> Table:
    """The placement, one row per server; above MAX_TABLE_ROWS servers, the first of those holding
    blocks, then a caption saying how many are left out (``--json`` and ``--output`` have them all)."""
    rows = ev.servers
    if len(rows) > MAX_TABLE_ROWS:
        rows = [r for r in rows if r["blocks"]][:MAX_TABLE_ROWS]
    t = Table(title=f"{sol.solver} on {inst.name}: placement"
                    + (f" ({len(rows)} of {len(ev.servers)} servers)" if len(rows) < len(ev.servers) else ""))
    # the dtype and TP columns where servers differ from one fp16/nf4 single-GPU swarm
    config = len({(r.get("dtype"), r.get("tp_degree"), r.get("gpu_count")) for r in ev.servers}) > 1 or any(
        r.get("gpu_count", 1) > 1 for r in ev.servers) or any(p.dtype or p.tp_degree for p in sol.placement)
    cols = ("server", "GPU", "city") + (("dtype", "GPUs x TP") if config else ()) + (
        "blocks", "span", "cache slots", "memory GB")
    for col in cols:
        t.add_column(col, justify="right" if col in ("blocks", "cache slots", "memory GB") else "left")
    for row in rows:
        span = f"[{row['start']}, {row['end']})" if row["blocks"] else "-"
        conf = (row["dtype"], f"{row['gpu_count']} x TP{row['tp_degree']}") if config else ()
        t.add_row(row["server"], row["gpu"] or "-", row["city"] or "-", *conf, str(row["blocks"]), span,
                  str(row["cache_slots"]), f"{row['memory_used_gb']:.2f} / {row['memory_gb']:.2f}")
    if len(rows) < len(ev.servers):  # a caption, so that the server column keeps its width
        hosting = sum(1 for r in ev.servers if r["blocks"])
        t.caption = (f"... {len(ev.servers) - len(rows)} more servers ({hosting} hold blocks in all); "
                     "--json or --output list every one")
        t.caption_justify = "left"
    return t


def _summary_lines(sol: Solution, ev) -> list[str]:
    s = ev.summary
    lines = [f"status: {sol.status.value}, " + ("with a solution" if sol.has_solution else "no solution")
             + (f" ({sol.message})" if sol.message else ""),
             f"solve time: {sol.solve_time_s:.3f} s"]
    if sol.objective is not None:
        lines.append(f"objective {sol.objective_name}: {sol.objective:.6g}")
    if sol.bound is not None:
        maximise = sol.objective_name.startswith("throughput")
        lines.append(f"{'upper' if maximise else 'lower'} bound: {sol.bound:.6g}"
                     + (f", optimality gap {100 * sol.gap:.2f}%" if sol.gap is not None else ""))
    q = ev.queueing
    if "response_time_light_load_s" in q:
        line = (f"mean response time (Poisson arrivals, JFFC on the chains): {q['response_time_light_load_s']:.3f} s "
                "at light load")
        if "unstable" in q:
            line += f"; unstable at lambda = {q['arrival_rate_per_s']:.4g}/s (no steady state, see below)"
        if "response_time_lower_s" in q:
            up = q["response_time_upper_s"]
            line += (f"; in [{q['response_time_lower_s']:.3f}, {f'{up:.3f}' if up < float('inf') else 'no bound'}] s at "
                     f"lambda = {q['arrival_rate_per_s']:.4g}/s (Theorem 4"
                     + (", with load-dependent job times" if q.get("contention") else "") + ")")
        lines.append(line)
    if "mean_inference_time_s" in s:
        lines += [f"mean inference time of the {s['requests']} concurrent requests on the paths (BPRR's view)"
                  f"{' (no GPU contention)' if ev.queueing.get('contention') else ''}: "
                  f"{s['mean_inference_time_s']:.3f} s "
                  f"(no waiting: {s['mean_inference_time_no_wait_s']:.3f} s; "
                  f"{s['requests_waiting']} of {s['requests']} wait, "
                  f"mean wait {s['mean_waiting_time_s']:.3f} s)",
                  f"mean time to first token: {s['mean_prefill_time_s']:.3f} s, "
                  f"decode: {s['mean_decode_time_per_token_s'] * 1e3:.1f} ms/token"]
    if sol.details.get("theorem2_bound_s_per_token") is not None:
        lines.append(f"Theorem-2 bound: {sol.details['theorem2_bound_s_per_token'] * 1e3:.1f} ms/token")
    for p in ev.paths:
        hops = " -> ".join(f"{sv}[{b}]" for sv, b in zip(p["servers"], p["blocks"]))
        lines.append(f"path {p['client']} x{p['requests']}: {hops}  ({p['inference_s']:.3f} s)")
    if q:
        line = (f"chains ({q['chains_from']}): {q['num_chains']}, total capacity {q['total_capacity']}, "
                f"nu = {q['nu_per_s']:.4g}/s, lambda = {q['arrival_rate_per_s']:.4g}/s, rho = {q['rho']:.3f}")
        if "unstable" in q:
            line += "; unstable: " + q["unstable"]
        lines.append(line)
        if "assumptions" in q:
            lines.append(f"  assumptions: {q['assumptions']}")
        if "max_gpu_utilisation" in q:
            u = q["max_gpu_utilisation"]
            busiest = max(range(len(q["gpu_utilisation"])), key=q["gpu_utilisation"].__getitem__)
            lines.append(f"GPU utilisation (JFFC's split of lambda): busiest server "
                         f"{ev.servers[busiest]['server']} at "
                         + (f"{100 * u:.1f}%" if u < 10 else f"{u:,.0f} times what it can serve")
                         + ("; at or above 100%: the GPU cannot keep up" if u >= 1 else ""))
            if u >= 1 and not q.get("contention"):
                lines.append("  every server's batching is 'ideal' (sessions do not slow each other), so the bounds "
                             "above hold in that model only; a GPU running its sessions' steps one at a time "
                             "needs this share of its time: set batching 'none' (PETALS) or 'continuous' in the "
                             "instance to model it")
        for k, ch in enumerate(ev.chains[:10]):
            hops = " -> ".join(f"{sv}[{b}]" for sv, b in zip(ch["servers"], ch["blocks"]))
            loaded = (f" (with contention {ch['loaded_service_time_s']:.3f} s at {_rate(ch['jobs_per_s'])} jobs/s)"
                      if "loaded_service_time_s" in ch else "")
            lines.append(f"  chain {k}: {hops}  T = {ch['service_time_s']:.3f} s{loaded}, c = {ch['capacity']}")
        if len(ev.chains) > 10:
            lines.append(f"  ... {len(ev.chains) - 10} more chains (--json lists all)")
    return lines


@main.command("solve")
@click.argument("instance_file", type=click.Path(dir_okay=False))
@click.option("--solver", "solver_name", default="cg-bprr", show_default=True,
              help="Solver name (see `optim solvers`).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the solution JSON here (atomically).")
@click.option("--json", "as_json", is_flag=True, help="Print the solution and its evaluation as JSON.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=None, help="Seed, for solvers that take one.")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds for the whole solve, model building included (MILPs, nsga2, bprr-chains).")
@click.option("--mip-gap", type=click.FloatRange(0, 1), default=None, help="Relative optimality gap to stop at.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Solver threads.")
@click.option("--backend", type=click.Choice(["highs", "ortools"]), default=None,
              help="MILP backend: HiGHS, or SCIP through OR-Tools.")
@click.option("--option", "extra", multiple=True, metavar="KEY=VALUE",
              help="Solver option (repeatable); VALUE is parsed as JSON when it can be.")
@click.option("--front", type=click.Path(dir_okay=False),
              help="Write the whole Pareto front here (JSON, atomically); for solvers with feature 'pareto'.")
@click.option("--routing", type=click.Choice(["solver", "nsga2-chains"]), default="solver", show_default=True,
              help="Client paths: the solver's own, or each client's knee chain of its NSGA-II latency-throughput "
                   "front on the placement (arXiv 2510.11211).")
@click.option("--dtypes", default=None, metavar="D1,D2",
              help="Weight dtypes every server may choose from (fp16, int8, nf4), replacing the instance's "
                   "model.dtypes; cg-bprr, gbp-cr and bprr-milp then choose one per server.")
def solve_cmd(instance_file: str, solver_name: str, output: str | None, as_json: bool, seed: int | None,
              time_limit: float | None, mip_gap: float | None, threads: int | None, backend: str | None,
              extra: tuple[str, ...], front: str | None, routing: str, dtypes: str | None) -> None:
    """Solve INSTANCE_FILE and print the placement, routing and predicted latency."""
    _check_outputs(output=output, front=front)
    inst = load_instance(instance_file)
    if dtypes is not None:
        allowed = [d.strip() for d in dtypes.split(",") if d.strip()]
        bad = [d for d in allowed if d not in ("fp16", "int8", "nf4")]
        if bad or not allowed:
            raise click.BadParameter(f"{dtypes!r}; expected a comma-separated list of fp16, int8, nf4",
                                     param_hint="--dtypes")
        inst = inst.replace(model=inst.model.model_copy(update={"dtypes": allowed}))
    options: dict[str, Any] = {}
    for item in extra:
        if "=" not in item:
            raise click.BadParameter(f"{item!r}; expected KEY=VALUE", param_hint="--option")
        key, value = item.split("=", 1)
        try:
            options[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            options[key.replace("-", "_")] = value
    for key, value in (("seed", seed), ("time_limit", time_limit), ("mip_gap", mip_gap), ("threads", threads),
                       ("backend", backend)):
        if value is not None:  # only what was given, so solvers without the option are not refused
            options[key] = value
    info = get_solver(solver_name)
    if front and "pareto" not in info.features:
        raise click.BadParameter(f"solver {solver_name!r} gives no Pareto front; use one with feature 'pareto' "
                                 f"({', '.join(n for n, i in _registry().items() if 'pareto' in i.features)})",
                                 param_hint="--front")
    from rich.progress import Progress

    from .solvers import solve

    with Progress(console=err.get(), transient=True, disable=as_json or not info.reports_progress) as bar:
        task = bar.add_task(_escape(solver_name), total=None)  # solve() passes progress only to solvers that report it
        sol = solve(inst, solver_name, progress=lambda event: _show_progress(bar, task, solver_name, event),
                    routing=routing, **options)
    if output:
        write_json_atomic(output, sol.model_dump(mode="json"))
    if front and sol.has_solution:
        from .pareto import front_document

        write_json_atomic(front, front_document(inst.name, sol.details))
    ev = sol._evaluation or evaluate(inst, sol)  # solve() already validated it against inst
    if as_json:
        _print_json({"solution": sol.model_dump(mode="json"), "evaluation": ev.to_dict(), "feasible": ev.feasible,
                     "status": sol.status.value})
    else:
        if sol.has_solution:
            out.print(_placement_table(inst, sol, ev))
        for line in _summary_lines(sol, ev):
            out.print(line, markup=False)
        if output:
            out.print(f"solution written to {output}", markup=False)
        if front and sol.has_solution:
            out.print(f"Pareto front ({len(sol.details['front'])} points) written to {front}", markup=False)
    sys.exit(EXIT_OK if sol.has_solution else EXIT_INFEASIBLE)


@main.command("evaluate")
@click.argument("instance_file", type=click.Path(dir_okay=False))
@click.argument("solution_file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the evaluation as JSON.")
def evaluate_cmd(instance_file: str, solution_file: str, as_json: bool) -> None:
    """Check SOLUTION_FILE against INSTANCE_FILE: feasibility (every violation) and metrics, and the
    worst single-server failure (which server, whether every block is still served, and the
    response-time bounds after it)."""
    from .validate import MAX_FAILURE_ANALYSIS_SERVERS, single_server_failures

    inst = load_instance(instance_file)
    sol = load_solution(solution_file, inst)
    ev = evaluate(inst, sol)
    hosting = sum(1 for r in ev.servers if r["blocks"])
    failures = None
    if ev.feasible and sol.has_solution and 0 < hosting <= MAX_FAILURE_ANALYSIS_SERVERS:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err.get(), transient=True, disable=as_json) as bar:
            task = bar.add_task("single-server failures", total=hosting)
            failures = single_server_failures(inst, sol, progress=lambda done, _n: bar.update(task, completed=done))
    if as_json:
        _print_json({**ev.to_dict(), "single_server_failures": failures})
    else:
        out.print(f"feasible: {str(ev.feasible).lower()}", markup=False)
        for v in ev.violations:
            out.print(f"  violation [{v.constraint}] {v.where}: {v.message}", markup=False)
        if ev.servers and sol.has_solution:
            out.print(_placement_table(inst, sol, ev))
        for line in _summary_lines(sol, ev)[2:]:
            out.print(line, markup=False)
        if failures:
            out.print(_failure_line(failures[0], ev.queueing), markup=False)
        elif ev.feasible and hosting > MAX_FAILURE_ANALYSIS_SERVERS:
            out.print(f"single-server failures: not analysed ({hosting} servers hold blocks, more than "
                      f"{MAX_FAILURE_ANALYSIS_SERVERS}; optim.validate.single_server_failures runs it)", markup=False)
    sys.exit(EXIT_OK if ev.feasible else EXIT_INFEASIBLE)


def _failure_line(worst: dict, q: dict) -> str:
    """One line on the worst single-server failure."""
    head = f"worst single-server failure: {worst['server']} (blocks [{worst['start']}, {worst['end']}))"
    if not worst["served"]:
        if not worst["unserved_blocks"]:
            return f"{head}: every block is still held, but no chain left has cache for a session"
        gaps = ", ".join(f"[{a}, {b})" for a, b in worst["unserved_blocks"])
        return f"{head}: requests can no longer be served, no server holds blocks {gaps}"
    if "response_time_lower_s" in worst:
        before = (f" (now [{q['response_time_lower_s']:.3f}, {q['response_time_upper_s']:.3f}] s)"
                  if "response_time_lower_s" in q else "")
        return (f"{head}: every block still served by {worst['num_chains']} chains; mean response time under JFFC "
                f"in [{worst['response_time_lower_s']:.3f}, {worst['response_time_upper_s']:.3f}] s{before}")
    return f"{head}: every block still served, but unstable: {worst.get('unstable', '')}"


@main.group("export")
def export_group() -> None:
    """Turn a solution into what starts the servers."""


@export_group.command("petals")
@click.argument("instance_file", type=click.Path(dir_okay=False))
@click.argument("solution_file", type=click.Path(dir_okay=False))
@click.option("--initial-peers", multiple=True, metavar="MULTIADDR",
              help="Bootstrap peers of a private swarm (repeatable); default: PETALS' public swarm.")
@click.option("--json", "as_json", is_flag=True, help="Print the commands as JSON.")
def export_petals_cmd(instance_file: str, solution_file: str, initial_peers: tuple[str, ...], as_json: bool) -> None:
    """Print the PETALS server command for every server holding blocks (--block_indices, dtype,
    attention cache), with the requests/s the solution's chains through it can complete."""
    from .export import petals_commands

    inst = load_instance(instance_file)
    sol = load_solution(solution_file, inst)
    rows = petals_commands(inst, sol, list(initial_peers) or None)
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        out.print(f"# {r['server']}: blocks [{r['start']}, {r['end']}), "
                  f"expected {r['expected_requests_per_s']:.3g} requests/s", markup=False)
        out.print(r["command"], markup=False, soft_wrap=True)


@main.group("import")
def import_group() -> None:
    """Import a running swarm's state."""


def _key_values(pairs: tuple[str, ...], flag: str) -> dict[str, float]:
    out = {}
    for item in pairs:
        key, sep, value = item.rpartition("=")
        try:
            if not sep or not key:
                raise ValueError
            out[key] = float(value)
        except ValueError:
            raise click.BadParameter(f"{item!r}; expected SERVER=NUMBER", param_hint=flag) from None
    return out


@import_group.command("petals")
@click.argument("state_file", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the instance here (atomically).")
@click.option("--solution", "solution_out", type=click.Path(dir_okay=False),
              help="Write the swarm's current placement here (atomically), for `optim evaluate`.")
@click.option("--model", "card", default=None, help="Model card [default: matched from the report's repository].")
@click.option("--report", default=None, help="Which model report of the state [default: most servers online].")
@click.option("--arrival-rate", type=click.FloatRange(0, 1e6, min_open=True), default=0.2, show_default=True,
              help="lambda of the swarm's one client, requests/s.")
@click.option("--input-tokens", type=click.FloatRange(1, 1e7), default=2000, show_default=True)
@click.option("--output-tokens", type=click.FloatRange(1, 1e7), default=20, show_default=True)
@click.option("--concurrent-requests", type=click.IntRange(1, 1_000_000), default=16, show_default=True)
@click.option("--memory-gb", "memory", multiple=True, metavar="SERVER=GB",
              help="A server's memory (GB, 1e9 B), replacing the estimate from its span and free cache.")
@click.option("--compare", "compare", default="cg-bprr", show_default=True,
              help="Solve the imported instance with this solver and print how much better it is; 'none' skips.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_petals_cmd(state_file: str, output: str | None, solution_out: str | None, card: str | None,
                      report: str | None, arrival_rate: float, input_tokens: float, output_tokens: float,
                      concurrent_requests: int, memory: tuple[str, ...], compare: str, as_json: bool) -> None:
    """A PETALS swarm's health-monitor state (JSON) becomes an instance and its current placement.

    Times come from the servers' own inference_rps and forward_rps, RTTs from their pings;
    everything the state lacks is filled and listed. Then `optim evaluate` scores today's swarm
    and `--compare` says how much better a solver's placement would be.
    """
    from .petals_import import import_petals_state, load_petals_state

    _check_outputs(output=output, solution=solution_out)
    if compare != "none":
        get_solver(compare)
    state = load_petals_state(state_file)
    imp = import_petals_state(state, card=card, report=report, arrival_rate_per_s=arrival_rate,
                              memory_gb=_key_values(memory, "--memory-gb"), input_tokens_mean=input_tokens,
                              output_tokens_mean=output_tokens, concurrent_requests=concurrent_requests,
                              source=state_file)
    inst, cur = imp.instance, imp.solution
    summary: dict[str, Any] = {"servers": inst.num_servers, "dropped": imp.dropped, "fills": imp.fills,
                               "current": {"status": cur.status.value, "message": cur.message}}
    if cur.has_solution:
        ev = evaluate(inst, cur)
        summary["current"].update(ev.summary)
        summary["current"]["feasible"] = ev.feasible
    if compare != "none":
        from .solvers import solve

        sol = solve(inst, compare)
        summary["compare"] = {"solver": compare, "status": sol.status.value, "objective": sol.objective,
                              "objective_name": sol.objective_name}
        now = summary["current"].get("mean_inference_time_s")
        if sol.has_solution and now and sol.objective_name == "mean_inference_time_s":
            summary["compare"]["improvement"] = 1 - sol.objective / now
    if output:
        write_json_atomic(output, inst.model_dump(mode="json", exclude_none=True))
    if solution_out:
        write_json_atomic(solution_out, cur.model_dump(mode="json"))
    if as_json:
        _print_json(summary)
        return
    out.print(f"imported {inst.num_servers} servers of {inst.provenance['model_report']} (card {inst.model.card}); "
              f"{len(imp.dropped)} dropped", markup=False)
    for d in imp.dropped:
        out.print(f"  dropped {d['peer_id']}: {d['reason']}", markup=False)
    out.print(f"filled ({len(imp.fills)}):", markup=False)
    for f in imp.fills:
        out.print(f"  {f}", markup=False)
    if cur.has_solution:
        c = summary["current"]
        out.print(f"today's swarm: mean inference time {c['mean_inference_time_s']:.3f} s "
                  f"(time to first token {c['mean_prefill_time_s']:.3f} s, decode "
                  f"{1e3 * c['mean_decode_time_per_token_s']:.1f} ms/token)", markup=False)
    else:
        out.print(f"today's swarm: {cur.message}", markup=False)
    if "compare" in summary:
        cmp_ = summary["compare"]
        if "improvement" in cmp_:
            out.print(f"{compare}: {cmp_['objective']:.3f} s, {100 * cmp_['improvement']:.1f}% "
                      f"{'better' if cmp_['improvement'] >= 0 else 'worse'} than today's swarm", markup=False)
        else:
            out.print(f"{compare}: {cmp_['status']}" + (f", {cmp_['objective_name']} = {cmp_['objective']:.4g}"
                                                       if cmp_["objective"] is not None else ""), markup=False)
    for what, path in (("instance", output), ("current placement", solution_out)):
        if path:
            err.print(f"{what} written to {path}", markup=False)


def _only_with_model_price(price: float | str, *names: str) -> None:
    """Refuse options given on the command line that only the load-based move price reads."""
    ctx = click.get_current_context()
    given = [n for n in names if ctx.get_parameter_source(n) is click.core.ParameterSource.COMMANDLINE]
    if given and price != "model":
        flags = ", ".join("--" + n.replace("_", "-") for n in given)
        raise click.UsageError(f"{flags}: read only with --downtime-s-per-block model")


class _PriceOrModel(click.ParamType):
    """A number of seconds >= 0, or ``model`` (a price derived from the load)."""

    name = "SECONDS|model"

    def get_metavar(self, param, *args) -> str:
        return self.name

    def convert(self, value, param, ctx):
        if isinstance(value, float) or value == "model":
            return value
        try:
            v = float(value)
        except ValueError:
            v = float("nan")
        if not 0 <= v < float("inf"):
            self.fail(f"{value!r}; expected a number of seconds >= 0 or 'model'", param, ctx)
        return v


@main.command("replan")
@click.argument("instance_file", type=click.Path(dir_okay=False))
@click.argument("current_file", type=click.Path(dir_okay=False))
@click.option("--max-moves", "-k", type=click.IntRange(min=0), required=True,
              help="K: servers allowed to change their span (0 returns the current placement).")
@click.option("--method", type=click.Choice(["heuristic", "milp", "both"]), default="both", show_default=True,
              help="Local search, bprr-milp with the move-budget row warm-started at it, or both (the better kept).")
@click.option("--downtime-s-per-block", type=_PriceOrModel(), default=0.0, show_default=True,
              help="Cost of each block a moved server loads, in seconds of mean inference time (heuristic); "
                   "'model': each server's price from what the swarm loses while it loads "
                   "(--load-s-per-block, --plan-horizon-s).")
@click.option("--load-s-per-block", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="With --downtime-s-per-block model: seconds a server needs to load one block.")
@click.option("--plan-horizon-s", type=click.FloatRange(min=0, min_open=True), default=3600.0, show_default=True,
              help="With --downtime-s-per-block model: seconds the new placement is expected to last.")
@click.option("--single-server-s-per-block", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Cost of each block only one server holds (unserved if it leaves), in seconds of mean inference "
                   "time (heuristic).")
@click.option("--target", default="cg-bprr", show_default=True, help="Solver whose placement seeds the candidate spans.")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Seconds for the whole call (with --sweep, shared among the K values).")
@click.option("--sweep", is_flag=True, help="Re-plan for every K from 0 to --max-moves and print the table.")
@click.option("--plot", type=click.Path(dir_okay=False), help="With --sweep: write the improvement against K (PNG).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the re-planned solution (atomically).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def replan_cmd(instance_file: str, current_file: str, max_moves: int, method: str,
               downtime_s_per_block: float | str, load_s_per_block: float, plan_horizon_s: float,
               single_server_s_per_block: float, target: str, time_limit: float, sweep: bool, plot: str | None,
               output: str | None, as_json: bool) -> None:
    """The best placement reachable from CURRENT by changing at most K servers' spans.

    A move is a server whose span changes (starting or stopping included); the objective is the
    validator's mean inference time, waiting for cache included (Python: optim.replan).
    """
    from .replan import replan, replan_sweep

    _only_with_model_price(downtime_s_per_block, "load_s_per_block", "plan_horizon_s")
    if plot and not sweep:
        raise click.UsageError("--plot draws the sweep: add --sweep")
    _check_outputs(output=output, plot=plot)
    get_solver(target)
    inst = load_instance(instance_file)
    cur = load_solution(current_file, inst)
    ev = evaluate(inst, cur)
    if not ev.feasible:
        from .errors import InvalidInstanceError
        from .validate import violation_lines

        raise InvalidInstanceError(violation_lines(ev.violations), current_file)
    kw = dict(method=method, target=target, downtime_s_per_block=downtime_s_per_block, time_limit=time_limit,
              single_server_s_per_block=single_server_s_per_block, load_s_per_block=load_s_per_block,
              plan_horizon_s=plan_horizon_s)
    results = replan_sweep(inst, cur, max_moves, **kw) if sweep else [replan(inst, cur, max_moves, **kw)]
    rows = [{"max_moves": k if sweep else max_moves, "moved": len(r.moved), "servers": r.moved,
             "blocks_loaded": r.blocks_loaded, "objective_s": r.objective_s,
             "current_objective_s": r.current_objective_s, "improvement": r.improvement, "method": r.method,
             "milp_status": r.milp.get("status"), "milp_objective_s": r.milp.get("objective"),
             "milp_bound_s": r.milp.get("bound")}
            for k, r in enumerate(results)]
    final = results[-1]
    if output:
        write_json_atomic(output, final.solution.model_dump(mode="json"))
    if plot:
        from .plotting import plot_replan_sweep

        save_figure_atomic(plot_replan_sweep(rows).figure, plot)
    if as_json:
        _print_json({"current_evaluation_s": ev.summary.get("mean_inference_time_s"), "rows": rows})
    else:
        out.print(f"current placement: mean inference time {final.current_objective_s:.3f} s re-routed "
                  f"({ev.summary.get('mean_inference_time_s', float('nan')):.3f} s with its own routing)", markup=False)
        t = Table(title="re-planning with a move budget")
        for col in ("K", "moved", "blocks loaded", "mean inference s", "improvement", "kept", "MILP",
                    "MILP objective s", "MILP bound s"):
            t.add_column(col, justify="right")
        for r in rows:
            t.add_row(str(r["max_moves"]), str(r["moved"]), str(r["blocks_loaded"]), _fmt(r["objective_s"]),
                      f"{100 * r['improvement']:.1f}%", r["method"], r["milp_status"] or "-",
                      _fmt(r["milp_objective_s"]), _fmt(r["milp_bound_s"]))
        out.print(t)
        if any(r["milp_status"] for r in rows):
            out.print("MILP: bprr-milp with the move-budget row; its objective is the rate-weighted mean inference "
                      "time with all |R| requests holding cache at once (no waiting), so 'infeasible' means no "
                      "placement within K moves runs them all at once; the kept answer is the better one under the "
                      "validator's mean inference time (waiting included)", markup=False)
        prices = final.solution.details.get("move_prices_s_per_block")
        if prices:
            never = [sid for sid, v in prices.items() if v is None]
            top = sorted(((v, sid) for sid, v in prices.items() if v is not None), reverse=True)[:5]
            out.print(f"price per block loaded, from the load ({load_s_per_block:g} s to load a block, the placement "
                      f"lasting {plan_horizon_s:g} s), seconds of mean: " + ", ".join(f"{sid} {v:.3g}" for v, sid in top)
                      + (", ..." if len(prices) - len(never) > 5 else "")
                      + (f"; never moved (a block would have no server while it loads): {', '.join(never)}"
                         if never else ""), markup=False)
        if final.moved:
            out.print("move: " + ", ".join(f"{sid} -> [{p.start}, {p.end})" for sid in final.moved
                                           for p in final.solution.placement if p.server == sid), markup=False)
    for what, path in (("solution", output), ("plot", plot)):
        if path:
            err.print(f"{what} written to {path}", markup=False)


@main.command("churn")
@click.argument("instance_file", type=click.Path(dir_okay=False))
@click.option("--strategy", "strategies", default="static,petals,replan", show_default=True,
              help="Comma-separated: static, petals (join rule + rebalancing), replan (optim replan after each event).")
@click.option("--requests", type=click.IntRange(1, 1_000_000), default=2000, show_default=True)
@click.option("--mean-uptime-s", type=click.FloatRange(min=0, min_open=True), default=3600.0, show_default=True)
@click.option("--mean-downtime-s", type=click.FloatRange(min=0, min_open=True), default=600.0, show_default=True)
@click.option("--schedule", type=click.Path(dir_okay=False),
              help="CSV of time_s,server,event (leave or join) replacing the exponential lifetimes.")
@click.option("--load-s-per-block", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Seconds a server needs to load one new block.")
@click.option("--max-moves", type=click.IntRange(min=0), default=1, show_default=True,
              help="replan: servers re-planned after each event.")
@click.option("--downtime-s-per-block", type=_PriceOrModel(), default=0.1, show_default=True,
              help="replan: price of each block a move loads, seconds of mean inference time; 'model': each "
                   "server's price from the load (what the swarm loses while it loads, over --plan-horizon-s).")
@click.option("--plan-horizon-s", type=click.FloatRange(min=0, min_open=True), default=None,
              help="replan with --downtime-s-per-block model: seconds a new placement is expected to last "
                   "[default: --mean-uptime-s].")
@click.option("--single-server-s-per-block", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="replan: price of each block only one server holds (a leave would leave it unserved), "
                   "seconds of mean inference time.")
@click.option("--routing", type=click.Choice(["petals", "optim"]), default="petals", show_default=True)
@click.option("--arrival-scale", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Multiply every client's arrival rate.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summaries as JSON.")
def churn_cmd(instance_file: str, strategies: str, requests: int, mean_uptime_s: float, mean_downtime_s: float,
              schedule: str | None, load_s_per_block: float, max_moves: int, downtime_s_per_block: float | str,
              plan_horizon_s: float | None, single_server_s_per_block: float, routing: str, arrival_scale: float,
              seed: int, as_json: bool) -> None:
    """Simulate servers joining and leaving while requests are served, for each strategy.

    Every strategy starts from PETALS' placement and sees the same arrivals and the same joins and
    leaves; requests in flight on a server that leaves or moves fail and retry (Python: optim.churn).
    """
    import csv as _csv

    from .churn import STRATEGIES, simulate_churn
    from .errors import InvalidOptionError

    _only_with_model_price(downtime_s_per_block, "plan_horizon_s")
    names = [x.strip() for x in strategies.split(",") if x.strip()]
    bad = [x for x in names if x not in STRATEGIES]
    if bad or not names:
        raise click.BadParameter(f"{strategies!r}; expected some of {', '.join(STRATEGIES)}", param_hint="--strategy")
    inst = load_instance(instance_file)
    if arrival_scale != 1.0:
        inst = inst.model_copy(update={"clients": [c.model_copy(update={"arrival_rate_per_s": c.arrival_rate_per_s
                                                                         * arrival_scale}) for c in inst.clients]})
    events = None
    if schedule:
        from .instance import decode_text, read_text_file

        rows = list(_csv.DictReader(decode_text(read_text_file(schedule, "schedule CSV"), schedule).splitlines()))
        try:
            events = [(float(r["time_s"]), r["server"], r["event"]) for r in rows]
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidOptionError(f"{schedule}: rows need time_s (seconds), server and event columns ({e})") from None
    results = [simulate_churn(inst, name, requests=requests, seed=seed, mean_uptime_s=mean_uptime_s,
                              mean_downtime_s=mean_downtime_s, schedule=events, load_s_per_block=load_s_per_block,
                              max_moves=max_moves, downtime_s_per_block=downtime_s_per_block, routing=routing,
                              single_server_s_per_block=single_server_s_per_block, plan_horizon_s=plan_horizon_s)
               for name in names]
    if as_json:
        _print_json([r.summary for r in results])
        return
    s0 = results[0].summary
    out.print(f"{inst.name}: {requests} requests at {inst.total_arrival_rate:g}/s over {s0['horizon_s']:.0f} s; "
              f"{s0['leaves']} leaves, {s0['joins']} joins; loading {load_s_per_block:g} s per block", markup=False)
    replanned = next((r.summary for r in results if r.strategy == "replan"), None)
    if replanned:
        price = (f"each server's price per block from the load over {replanned['plan_horizon_s']:g} s"
                 if replanned["downtime_s_per_block"] == "model"
                 else f"{replanned['downtime_s_per_block']:g} s of mean per block loaded")
        out.print(f"replan: at most {max_moves} move(s) after each event, {price}, "
                  f"{single_server_s_per_block:g} s per block only one server holds", markup=False)
    t = Table(title="churn")
    for col in ("strategy", "mean s", "median s", "P95 s", "completed", "failed attempts", "moves", "blocks moved",
                "time unserved s"):
        t.add_column(col, justify="left" if col == "strategy" else "right")
    for r in results:
        s = r.summary
        t.add_row(r.strategy, _fmt(s["response_s"]["mean"]), _fmt(s["response_s"]["median"]), _fmt(s["response_s"]["p95"]),
                  f"{s['completed']}/{s['requests']}", str(s["failed_attempts"]), str(s["moves"]),
                  str(s["blocks_moved"]), _fmt(s["time_unserved_s"], 1))
    out.print(t)
    out.print("moves: online servers that changed their span; blocks moved: blocks loaded by those moves and by "
              "servers rejoining on another span than they held; time unserved: some block had no available "
              "server", markup=False)


@main.command("bound")
@click.argument("instance_file", type=click.Path(dir_okay=False))
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Seconds for the MILP that gives the bound.")
@click.option("--objective", type=click.Choice(["decode", "inference"]), default="decode", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def bound_cmd(instance_file: str, time_limit: float, objective: str, as_json: bool) -> None:
    """Best bound of the BPRR MILP and every solver's optimality gap against it."""
    from .bounds import gap_report

    rep = gap_report(load_instance(instance_file), time_limit, objective)
    if as_json:
        _print_json(rep)
        return
    t = Table(title=f"{rep['instance']}: {rep['objective']} against the bprr-milp bound "
                    f"{_fmt(rep['bound'], 5)} s ({rep['bound_status']})")
    for col in ("solver", "status", "value s", "gap", "caches fit", "time s"):
        t.add_column(col)
    for r in rep["rows"]:
        t.add_row(r["solver"], r["status"], _fmt(r["value"], 5), "-" if r["gap"] is None else f"{100 * r['gap']:.2f}%",
                  "-" if r["cache_fits"] is None else ("yes" if r["cache_fits"] else "no (requests wait)"),
                  _fmt(r["solve_time_s"], 2))
    out.print(t)


@main.command("simulate")
@click.argument("instance_file", type=click.Path(dir_okay=False))
@click.argument("solution_file", type=click.Path(dir_okay=False))
@click.option("--policy", default="jffc", show_default=True,
              help="Chain policies jffc, jsq, sed; path policies petals, ws-rr, nsga2-chains; or several, "
                   "comma-separated.")
@click.option("--arrivals", type=click.Choice(["poisson", "trace"]), default="poisson", show_default=True)
@click.option("--service", type=click.Choice(["model", "exponential"]), default="model", show_default=True,
              help="Service time: the performance model with each request's lengths (step by step on shared GPUs "
                   "where servers' batching is none or continuous), or exponential with the chains' mean job "
                   "times (CTMC check).")
@click.option("--lengths", type=click.Choice(["instance", "trace"]), default=None,
              help="Token lengths: the instance's means, or each request's own from the trace "
                   "[default: trace with --arrivals trace, else instance].")
@click.option("--setup-s", type=click.FloatRange(0.0, 1e9, max_open=True), default=0.0, show_default=True,
              help="Seconds each request spends being set up once admitted, holding its cache, before its first "
                   "step (the BPRR authors' simulator adds 250 s under PETALS and 60 s under CG-BPRR).")
@click.option("--requests", type=click.IntRange(1, 10_000_000), default=10_000, show_default=True)
@click.option("--replications", type=click.IntRange(1, 10_000), default=3, show_default=True)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False), help="Write the response-time CDF per policy (PNG).")
@click.option("--records", type=click.Path(dir_okay=False), help="Write per-request records (CSV) of the first policy.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def simulate_cmd(instance_file: str, solution_file: str, policy: str, arrivals: str, service: str,
                 lengths: str | None, setup_s: float, requests: int, replications: int, seed: int,
                 plot: str | None, records: str | None, as_json: bool) -> None:
    """Replay request arrivals through SOLUTION_FILE's chains and summarise response times."""
    from rich.progress import Progress

    from .io import write_atomic
    from .simulate import simulate

    from .simulate import check_policy, check_simulable

    _check_outputs(plot=plot, records=records)
    inst = load_instance(instance_file)
    sol = load_solution(solution_file, inst)
    policies = [p.strip() for p in policy.split(",") if p.strip()]
    if not policies:
        raise click.BadParameter(f"{policy!r}; expected one or more of jffc, jsq, sed, petals, ws-rr", param_hint="--policy")
    for p in policies:
        check_policy(p)
    ev = check_simulable(inst, sol)  # refuses, exit 2, a solution that fails validation
    results = {}
    with Progress(console=err.get(), transient=True, disable=as_json) as bar:
        for p in policies:
            task = bar.add_task(_escape(f"{p}: {replications} x {requests} requests"), total=replications)
            results[p] = simulate(inst, sol, policy=p, arrivals=arrivals, requests=requests, replications=replications,
                                  seed=seed, service=service, lengths=lengths, setup_s=setup_s,
                                  progress=lambda _r, t=task: bar.advance(t))
    q = ev.queueing
    if records:
        write_atomic(records, results[policies[0]].to_dataframe().to_csv(index=False))
    if plot:
        _plot_cdf(plot, results, q)
    if as_json:
        _print_json({"queueing": q, "simulations": {p: r.summary for p, r in results.items()}})
        return
    t = Table(title=f"simulation of {sol.solver} on {inst.name}: {arrivals} arrivals, {service} service, "
                    f"{replications} x {requests} requests")
    for col in ("policy", "mean response s", "95% CI", "median", "P95", "P99", "mean wait s", "mean service s"):
        t.add_column(col, justify="left" if col == "policy" else "right")
    for p, r in results.items():
        rs, ws, ss = r.summary["response_s"], r.summary["waiting_s"], r.summary["service_s"]
        ci = rs["mean_ci95"]
        t.add_row(p, f"{rs['mean']:.3f}", "-" if ci is None else f"+/- {ci:.3f}", f"{rs['median']:.3f}",
                  f"{rs['p95']:.3f}", f"{rs['p99']:.3f}", f"{ws['mean']:.3f}", f"{ss['mean']:.3f}")
    out.print(t)
    first = next(iter(results.values())).summary
    w = inst.workload
    if first["lengths"] == "trace":
        out.print(f"token lengths from the Azure trace (mean {first['input_tokens_mean']:.0f} in, "
                  f"{first['output_tokens_mean']:.0f} out) replace the instance's ({w.input_tokens_mean:g} in, "
                  f"{w.output_tokens_mean:g} out); --lengths instance keeps the instance's", markup=False)
        if first.get("prompts_cut_to_context"):
            out.print(f"{first['prompts_cut_to_context']} of {first['requests']} trace prompts were cut to fit the "
                      f"model's context of {inst.model.context_tokens:,} tokens (prompt plus output)", markup=False)
    for p, r in results.items():
        if util := r.summary.get("gpu_utilisation"):
            used = sorted(((s, u) for s, u in util.items() if u > 0), key=lambda kv: -kv[1])
            out.print(f"{p}: GPU busy, share of the run: " + ", ".join(f"{s} {u:.0%}" for s, u in used[:5])
                      + (f" (the 5 busiest of {len(used)} servers that ran steps)" if len(used) > 5 else ""),
                      markup=False)
    if "unstable" in q:
        out.print(f"the model has no steady state at this load ({q['unstable']}): the simulated means grow with "
                  "the number of requests and describe this run only", markup=False)
    if "response_time_lower_s" in q and "jffc" in results:
        rs = results["jffc"].summary["response_s"]
        slack = (rs["mean_ci95"] or 0.0) + 1e-9 * rs["mean"]  # the CI, and float round-off
        inside = q["response_time_lower_s"] - slack <= rs["mean"] <= q["response_time_upper_s"] + slack
        strictly = q["response_time_lower_s"] <= rs["mean"] <= q["response_time_upper_s"]
        verdict = ("within them" if strictly else f"within them to its 95% interval (+/- {rs['mean_ci95'] or 0:.3f} s)"
                   if inside else "OUTSIDE them")
        which = ("Theorem-4 bounds" if inst.num_clients == 1 or q.get("contention") else
                 f"bounds for {inst.num_clients} clients (Theorem 4's argument per client)")
        up = q["response_time_upper_s"]
        out.print(f"{which} (optim evaluate): [{q['response_time_lower_s']:.3f}, "
                  f"{f'{up:.3f}' if up < float('inf') else 'no bound'}] s at rho = {q['rho']:.3f}; simulated JFFC mean "
                  f"{rs['mean']:.3f} s is {verdict}"
                  + (" (with GPU contention the bounds use approximate load-dependent job times; the simulation "
                     "runs every step on the shared GPUs)" if q.get("contention") and service != "exponential"
                     else " (exponential job times with the load-dependent means the bounds use)"
                     if q.get("contention") else "" if service == "exponential" else
                     " (the bounds assume exponential service: use --service exponential to check them)"),
                  markup=False)
    if plot:
        out.print(f"CDF written to {plot}", markup=False)


def _plot_cdf(path: str, results: dict, q: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for p, r in results.items():
        x = np.sort(r.records["response_s"])
        ax.step(x, np.arange(1, x.size + 1) / x.size, where="post", label=f"{p} (mean {x.mean():.2f} s)")
    if "response_time_lower_s" in q:
        ax.axvline(q["response_time_lower_s"], ls=":", c="k", lw=1, label="Thm-4 bounds on the mean")
        ax.axvline(q["response_time_upper_s"], ls=":", c="k", lw=1)
    ax.set_xlabel("response time (s)")
    ax.set_ylabel("fraction of requests")
    lo = min(float(np.min(r.records["response_s"])) for r in results.values())
    hi = max(float(np.max(r.records["response_s"])) for r in results.values())
    if lo > 0 and hi / lo > 10:  # log scale only when the responses span more than a decade
        ax.set_xscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure_atomic(fig, path)
    plt.close(fig)


@main.command("pareto")
@click.argument("instance_file", type=click.Path(dir_okay=False))
@click.option("--objectives", default=",".join(DEFAULT_OBJECTIVES), show_default=True,
              help="Two or three of latency, nu, free_memory (comma-separated).")
@click.option("--population", type=click.IntRange(min=4), default=100, show_default=True)
@click.option("--generations", type=click.IntRange(min=1), default=None,
              help="Generations [default: 100, or unlimited with --time-limit].")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds for the whole run, the reference solvers included (with --generations, whichever "
                   "comes first).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option("--solvers", "solver_names", default=",".join(SEED_SOLVERS), show_default=True,
              help="Reference solvers: they seed the search and are plotted beside the front.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Draw the front (PNG, PDF or SVG).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the front (JSON, atomically).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def pareto_cmd(instance_file: str, objectives: str, population: int, generations: int | None,
               time_limit: float | None, seed: int, solver_names: str, plot: str | None, output: str | None,
               as_json: bool) -> None:
    """Pareto front of placements (NSGA-II) with the reference solvers' points and hypervolumes."""
    from rich.progress import Progress

    import numpy as np

    from .pareto import front_document, plot_front, pareto_report
    from .solvers.nsga2 import check_objectives

    _check_outputs(plot=plot, output=output)
    inst = load_instance(instance_file)
    objs = check_objectives(o.strip() for o in objectives.split(",") if o.strip())
    names = tuple(n.strip() for n in solver_names.split(",") if n.strip())
    for n in names:
        get_solver(n)
    with Progress(console=err.get(), transient=True, disable=as_json) as bar:
        task = bar.add_task(f"NSGA-II, population {population}", total=None)
        rep = pareto_report(inst, objectives=objs, population=population, generations=generations,
                            time_limit=time_limit, seed=seed, solvers=names,
                            progress=lambda g, total: bar.update(task, completed=g, total=total))
    f = rep.front
    if len(f) == 0:
        err.print("no placement found serves a request", markup=False)
        sys.exit(EXIT_INFEASIBLE)
    details = f.details(inst)
    doc = front_document(inst.name, details, rep)
    if output:
        write_json_atomic(output, doc)
    if plot:
        plot_front(doc, plot)
    if as_json:
        _print_json(doc)
        return
    t = Table(title=f"{inst.name}: Pareto front of {', '.join(f.objectives)} ({len(f)} points; "
                    f"{f.generations} generations, {f.evaluations} placements, {f.search_time_s:.1f} s)")
    for col in ("point", "mean inference s", "nu /s", "free memory GB", "servers used"):
        t.add_column(col, justify="right")
    shown = np.unique(np.linspace(0, len(f) - 1, min(len(f), 15)).round().astype(int).tolist() + [details["knee"]])
    for i in shown:
        used = int(np.sum(f.ends[i] > f.starts[i]))
        t.add_row(f"{i}{' (knee)' if i == details['knee'] else ''}", f"{f.values[i, 0]:.3f}", f"{f.values[i, 1]:.2f}",
                  f"{f.values[i, 2]:.1f}", str(used))
    for name, v in rep.solver_points.items():
        t.add_row(f"{name}{' (dominated)' if rep.dominated_by_front.get(name) else ''}", f"{v[0]:.3f}",
                  f"{v[1]:.2f}", f"{v[2]:.1f}", "", style="dim")
    out.print(t)
    if len(f) > len(shown):
        out.print(f"{len(shown)} of {len(f)} front points shown (--output or --json for all)", markup=False)
    hv = rep.hypervolume
    if "solvers" in hv:
        out.print(f"hypervolume (normalised, reference 1.1): front {hv['front']:.4f}, heuristics together "
                  f"{hv['solvers']:.4f}; " + ", ".join(f"{n} {hv[n]:.4f}" for n in rep.solver_points), markup=False)
    for what, path in (("front", output), ("plot", plot)):
        if path:
            out.print(f"{what} written to {path}", markup=False)


class _DefaultRunGroup(click.Group):
    """``optim bench SPEC`` runs a sweep; ``optim bench report RESULTS`` reports on one."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@main.group("bench", cls=_DefaultRunGroup)
def bench() -> None:
    """Benchmark sweeps: `optim bench SPEC --output r.parquet`, then `optim bench report r.parquet`."""


@bench.command("run")
@click.argument("spec_file", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True,
              help="Results table (.parquet or .csv); runs already in it are skipped.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Run on a local Dask cluster of N workers.")
@click.option("--scheduler", default=None, help="Run on the Dask scheduler at this address (tcp://host:8786).")
@click.option("--retry-failed", is_flag=True, help="Run again the runs recorded as failed.")
def bench_run(spec_file: str, output: str, workers: int | None, scheduler: str | None, retry_failed: bool) -> None:
    """Run the sweep SPEC_FILE (YAML or JSON): every run solved, validated, evaluated, maybe simulated."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .bench import expand, load_sweep, run_sweep

    if workers is not None and scheduler is not None:
        raise click.BadParameter("give --workers or --scheduler, not both", param_hint="--workers")
    _check_outputs(output=output)
    spec = load_sweep(spec_file)
    total = len(expand(spec))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err.get(), transient=True) as bar:
        task = bar.add_task(_escape(f"sweep {spec.name}"), total=None)

        def progress(done: int, todo: int, row: dict) -> None:
            bar.update(task, completed=done, total=todo,
                       description=_escape(f"sweep {spec.name}: {row.get('solver')} on {row.get('instance', '?')}"))

        res = run_sweep(spec, output, scheduler=scheduler, workers=workers, retry_failed=retry_failed,
                        progress=progress)
    out.print(f"sweep {spec.name}: {total} runs; {res.ran} run now ({res.failed} failed), {res.skipped} already in "
              f"{output}", markup=False)
    failed = res.table[res.table["status"] == "failed"] if len(res.table) else res.table
    for _, r in failed.head(10).iterrows():
        out.print(f"  failed: {r['solver']} on {r.get('instance') or r['instance_id']}: {r['error']}", markup=False)
    if len(failed):
        _fail(f"{len(failed)} of {len(res.table)} runs in {output} failed (--retry-failed runs them again)",
              EXIT_INFEASIBLE)


@bench.command("report")
@click.argument("results_file", type=click.Path(dir_okay=False))
@click.option("--metric", default="mean_inference_time_s", show_default=True,
              help="Metric the solvers are ranked by, in its own direction (e.g. nu_per_s: higher is better).")
@click.option("--plots", type=click.Path(file_okay=False), default=None,
              help="Folder for the plots [default: RESULTS stem + '-plots'].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def bench_report(results_file: str, metric: str, plots: str | None, as_json: bool) -> None:
    """Compare the solvers of a results table: mean rank, wins, gap to the best, median time; plots."""
    from pathlib import Path

    from .bench import comparison, plot_report, read_results

    from .metrics import get_metric

    get_metric(metric)
    df = read_results(results_file)
    if metric not in df.columns:
        raise click.BadParameter(f"{metric!r} is not a column of {results_file}", param_hint="--metric")
    table = comparison(df, metric)
    folder = Path(plots) if plots else Path(results_file).with_name(Path(results_file).stem + "-plots")
    written = plot_report(df, folder, metric)
    if as_json:
        _print_json({"comparison": json.loads(table.reset_index().to_json(orient="records")),
                     "plots": [str(p) for p in written]})
        return
    n_inst = df["instance_id"].nunique()
    t = Table(title=f"{results_file}: {len(df)} runs on {n_inst} instances, ranked by {metric} per instance")
    t.add_column("solver")
    for col in ("runs", "failed", "no solution", "stopped at limit", "mean rank", "wins", "gap to best",
                "gap to bound", "median time s", f"mean of {metric}"):
        t.add_column(col, justify="right")

    def pct(x: float) -> str:
        return "-" if x != x else f"{x:.1f}%"

    for s, r in table.iterrows():
        t.add_row(str(s), str(int(r["runs"])), str(int(r["failed"])), str(int(r["no_solution"])), str(int(r["time_limited"])),
                  f"{r['mean_rank']:.2f}", str(int(r["wins"])), pct(r["mean_gap_to_best_pct"]), pct(r["mean_gap_to_bound_pct"]),
                  _fmt(r["median_solve_time_s"], 3), _fmt(r[f"{metric} (mean)"], 4))
    out.print(t)
    if written:
        out.print(f"plots written to {folder}: {', '.join(p.name for p in written)}", markup=False)


@main.command("solvers")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def solvers_cmd(name: str | None, as_json: bool) -> None:
    """List the registered solvers; with NAME, that solver's options (type, range, default, meaning)."""
    if name is not None:
        info = get_solver(name)
        rows = info.describe_options()
        if as_json:
            _print_json({"name": info.name, "description": info.description, "features": sorted(info.features),
                         "available": info.is_available(), "options": rows})
            return
        out.print(f"{info.name}: {info.description}", markup=False, soft_wrap=True)
        t = Table(title=f"options of {info.name} (--option KEY=VALUE; lists as a,b,c)")
        for col in ("option", "type", "default", "meaning"):
            t.add_column(col)
        for r in rows:
            default = ",".join(r["default"]) if isinstance(r["default"], tuple) else str(r["default"])
            t.add_row(r["name"], r["type"], default, r["description"])
        out.print(t)
        return
    rows = [{"name": s.name, "available": s.is_available(), "features": sorted(s.features),
             "options": s.options, "description": s.description} for s in _registry().values()]
    if as_json:
        _print_json(rows)
        return
    t = Table(title="optim solvers")
    for col in ("name", "available", "features", "options", "description"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["name"], "yes" if r["available"] else "no", ", ".join(r["features"]),
                  ", ".join(f"{k}={v}" for k, v in r["options"].items()), r["description"])
    out.print(t)


@main.command("calibrate")
@click.argument("measurements_file", type=click.Path(dir_okay=False))
@click.option("--gpu", required=True, help="Name of the GPU profile the fit makes (e.g. A100-80GB-mine).")
@click.option("--model", "model_card", default=None, help="Model card the measurements ran (recorded in the profile).")
@click.option("--dtype", type=click.Choice(["fp16", "int8", "nf4"]), default=None, help="Weight dtype measured.")
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Write the fit here (JSON: the constants as a GPU profile's 'measured' entry, with their CIs).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def calibrate_cmd(measurements_file: str, gpu: str, model_card: str | None, dtype: str | None,
                  output: str | None, as_json: bool) -> None:
    """Fit per-block prefill and decode times to measured requests (least squares, 95% CIs).

    MEASUREMENTS_FILE is a CSV with columns blocks, input_tokens, output_tokens, time_s: one row per
    measured request on one server (see optim.calibrate); an optional concurrent_sessions column
    (sessions sharing the GPU meanwhile) adds the contention constant to the fit."""
    from .calibrate import calibrate, read_measurements

    _check_outputs(output=output)
    df = read_measurements(measurements_file)
    fit = calibrate(df["blocks"], df["input_tokens"], df["output_tokens"], df["time_s"],
                    df["concurrent_sessions"] if "concurrent_sessions" in df.columns else None)
    profile = {"gpu": gpu, "source": f"optim calibrate {measurements_file} ({fit.n} measurements, "
                                     f"RMS residual {fit.rms_residual_s:.4g} s, R^2 {fit.r2:.4f})",
               "measured": fit.measured_times(model_card or "unknown", dtype or "unknown"),
               "fixed_s_per_request": fit.values["fixed_s"],
               "ci95_ms": {k: (None if v is None else v * 1e3) for k, v in fit.ci95.items()}}
    if output:
        write_json_atomic(output, profile)
    if as_json:
        _print_json({"fit": {k: v for k, v in fit.to_dict().items() if k != "residuals_s"}, "profile": profile})
        return
    t = Table(title=f"{gpu}: {fit.n} measurements from {measurements_file}, R^2 = {fit.r2:.4f}")
    for col in ("constant", "fitted", "95% CI", "unit"):
        t.add_column(col, justify="left" if col == "constant" else "right")
    labels = {"fixed_s": ("fixed per request (communication, overhead)", 1.0, "s"),
              "prefill_s_per_block": ("prefill per block", 1e3, "ms"),
              "prefill_s_per_block_per_token": ("prefill per block per input token", 1e3, "ms"),
              "decode_s_per_block_per_token": ("decode per block per token", 1e3, "ms"),
              "contention_s_per_block_per_token_per_session": ("contention: decode per block per token per "
                                                               "other session", 1e3, "ms")}
    for name, (label, scale, unit) in labels.items():
        if name not in fit.values:
            continue
        ci = fit.ci95[name]
        t.add_row(label, f"{fit.values[name] * scale:.6g}", "-" if ci is None else f"+/- {ci * scale:.3g}", unit)
    out.print(t)
    out.print(f"residuals: RMS {fit.rms_residual_s:.4g} s, largest {fit.max_abs_residual_s:.4g} s", markup=False)
    if output:
        out.print(f"profile written to {output}", markup=False)


@main.command("schema")
@click.argument("what", type=click.Choice(["instance", "solution", "fleet"]))
def schema_cmd(what: str) -> None:
    """Print the JSON Schema of the instance, solution or fleet-file format."""
    from .instance import instance_schema

    if what == "instance":
        _print_json(instance_schema())
    elif what == "solution":
        from .solution import Solution

        _print_json(Solution.model_json_schema())
    else:
        from .fleet import Fleet

        _print_json(Fleet.model_json_schema())


@main.command("models")
def models_cmd() -> None:
    """List the shipped model cards with their per-block sizes."""
    from .modelcard import list_model_cards, load_model_card

    t = Table(title="model cards")
    for col in ("name", "blocks", "params/block", "fp16 GB", "int8 GB", "nf4 GB", "KV B/token/block"):
        t.add_column(col, justify="left" if col == "name" else "right")
    for name in list_model_cards():
        c = load_model_card(name)
        t.add_row(name, str(c.num_blocks), f"{c.params_per_block:,}",
                  *(f"{c.block_bytes[d] / 1e9:.3f}" for d in ("fp16", "int8", "nf4")),
                  f"{c.kv_cache_bytes_per_token_per_block:,}")
    out.print(t)


@main.command("fleet")
@click.argument("fleet_file", type=click.Path(dir_okay=False), required=False)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the instance here (atomically) "
              "instead of stdout.")
@click.option("--gpu-profiles", type=click.Path(dir_okay=False), default=None,
              help="YAML/JSON file of extra GPU profiles (fields as `optim gpus` lists: name, memory_gib, "
                   "fp16_tflops, memory_bandwidth_gb_per_s, tier, source).")
@click.option("--model", "card", default=None, help="Model card; required for a CSV fleet, overrides a YAML one.")
@click.option("--dtype", type=click.Choice(["fp16", "int8", "nf4"]), default=None, help="Weight dtype [CSV: nf4].")
@click.option("--input-tokens", "input_tokens_mean", type=click.FloatRange(1, 1e7), default=None)
@click.option("--output-tokens", "output_tokens_mean", type=click.FloatRange(1, 1e7), default=None)
@click.option("--concurrent-requests", type=click.IntRange(min=1), default=None, help="|R|.")
@click.option("--name", default=None, help="Instance name.")
@click.option("--cities", "list_cities", is_flag=True, help="List the measured cities a fleet may name, and exit.")
def fleet_cmd(fleet_file: str, output: str | None, gpu_profiles: str | None, list_cities: bool, **overrides: Any) -> None:
    """Turn a fleet file (YAML, JSON or CSV: GPUs, cities, clients, model) into an instance.

    RTTs come from the shipped WonderProxy measurements (a place given by coordinates gets the
    nearest measured city, recorded in the provenance); per-block times and memory from the GPU
    profiles. `optim schema fleet` prints the format, `optim fleet --cities` the cities;
    instances/fleet-example.yaml is an example. A CSV fleet has one row per server group or
    client (column kind = server or client, the other columns as the YAML keys).
    """
    from .fleet import fleet_instance, load_gpu_profiles, read_fleet

    if list_cities:
        from .generators.geo import city_table

        t = Table(title="measured cities (WonderProxy)")
        for col in ("city", "country", "region", "latitude", "longitude"):
            t.add_column(col)
        for c in sorted(city_table(), key=lambda c: (c["region"], c["country"], c["city"])):
            t.add_row(_escape(c["city"]), _escape(c["country"]), c["region"], f"{c['latitude']:.2f}", f"{c['longitude']:.2f}")
        out.print(t)
        return
    if fleet_file is None:
        raise click.UsageError("Missing argument 'FLEET_FILE' (or --cities).")
    _check_outputs(output=output)
    extra = load_gpu_profiles(gpu_profiles) if gpu_profiles else None
    fleet, digest = read_fleet(fleet_file, overrides=overrides)
    inst = fleet_instance(fleet, source=fleet_file, sha256=digest, extra_profiles=extra)
    for sub in inst.provenance["nearest_measured_city"]:
        err.print(f"{sub['endpoint']} at {sub['place']}: RTTs of {sub['measured_city']} "
                  f"({sub['distance_km']:.0f} km away), the nearest measured city", markup=False)
    _emit_instance(inst, output)


@main.command("gpus")
def gpus_cmd() -> None:
    """List the GPU profiles."""
    from .gpu import gpu_profiles

    t = Table(title="GPU profiles")
    for col in ("name", "memory as stated", "memory GB (1e9 B)", "FP16 TFLOPS", "bandwidth GB/s", "measured times"):
        t.add_column(col)
    for p in gpu_profiles().values():
        stated = f"{p.memory_gib:g} GiB" if p.memory_gib is not None else f"{p.memory_gb:g} GB"
        t.add_row(p.name, stated, _fmt(p.memory_bytes / 1e9, 2), _fmt(p.fp16_tflops, 1), _fmt(p.memory_bandwidth_gb_per_s, 0),
                  f"{p.measured.model} {p.measured.dtype}" if p.measured else "roofline")
    out.print(t)


def _emit_instance(inst: Instance, output: str | None) -> None:
    data = inst.model_dump(mode="json", exclude_none=True)
    if output:
        write_json_atomic(output, data)
        err.print(f"instance {inst.name} written to {output}", markup=False)
    else:
        _print_json(data)


@main.group("generate")
def generate() -> None:
    """Generate instances (seeded, deterministic)."""


_common = [
    click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write here (atomically) instead of stdout."),
    click.option("--name", default=None, help="Instance name."),
]


def _with_common(f):
    for opt in reversed(_common):
        f = opt(f)
    return f


@generate.command("geo")
@click.option("--servers", "num_servers", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--clients", "num_clients", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--region", default="europe", show_default=True,
              help="europe, asia, north-america, south-america, africa, oceania or world.")
@click.option("--model", default="llama-2-70b", show_default=True, help="Model card (see `optim models`).")
@click.option("--dtype", type=click.Choice(["fp16", "int8", "nf4"]), default="nf4", show_default=True)
@click.option("--eta", type=click.FloatRange(0, 1), default=0.2, show_default=True,
              help="Fraction of high-performance GPUs.")
@click.option("--high-gpu", default="A100-80GB", show_default=True)
@click.option("--low-gpu", default="L4", show_default=True)
@click.option("--arrival-rate", type=click.FloatRange(0, 1e6, min_open=True), default=0.2, show_default=True,
              help="Total lambda, requests/s.")
@click.option("--input-tokens", type=click.FloatRange(1, 1e7), default=2000, show_default=True)
@click.option("--output-tokens", type=click.FloatRange(1, 1e7), default=20, show_default=True)
@click.option("--concurrent-requests", type=click.IntRange(min=1), default=16, show_default=True, help="|R|.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@_with_common
def generate_geo(region: str, output: str | None, name: str | None, **kw: Any) -> None:
    """Servers and clients in real cities with measured WonderProxy RTTs."""
    from .generators import geo_instance

    _emit_instance(geo_instance(region=None if region == "world" else region, name=name, **kw), output)


@generate.command("clustered")
@click.option("--size", type=click.Choice(["small", "large"]), default="small", show_default=True,
              help="small: 2 A100 + 7 MIG; large: 5 A100 + 21 MIG.")
@click.option("--client-clusters", default="0,1,2", show_default=True, help="Clusters holding a client.")
@click.option("--arrival-rate", type=click.FloatRange(0, 1e6, min_open=True), default=0.3, show_default=True)
@click.option("--concurrent-requests", type=click.IntRange(min=1), default=70, show_default=True)
@click.option("--timing", type=click.Choice(["measured", "clustered-script"]), default="measured", show_default=True,
              help="Per-block times: the paper's measured constants, or the authors' clustered script's (A100 decode "
                   "2.2197 ms per block; its simulator's clustered figures).")
@_with_common
def generate_clustered(size: str, client_clusters: str, output: str | None, name: str | None, **kw: Any) -> None:
    """The BPRR paper's clustered scenario (BLOOM-176B, A100 + MIG, 5/100 ms RTT)."""
    from .generators import clustered_instance

    try:
        clusters = tuple(int(x) for x in client_clusters.split(","))
    except ValueError:
        raise click.BadParameter(f"{client_clusters!r}; expected e.g. 0,1,2", param_hint="--client-clusters")
    _emit_instance(clustered_instance(size, client_clusters=clusters, name=name, **kw), output)


@generate.command("topology")
@click.option("--network", type=click.Choice(["abovenet", "bellcanada", "gts-ce"]), default="gts-ce",
              show_default=True, help="Internet Topology Zoo network of the BPRR paper's scattered scenario.")
@click.option("--servers", "num_servers", type=click.IntRange(min=1), default=None,
              help="Servers on random nodes [default: 0.4 x nodes].")
@click.option("--eta", type=click.FloatRange(0, 1), default=0.2, show_default=True, help="Fraction of A100s.")
@click.option("--arrival-rate", type=click.FloatRange(0, 1e6, min_open=True), default=0.1, show_default=True)
@click.option("--output-tokens", type=click.IntRange(1, 10_000_000), default=64, show_default=True)
@click.option("--concurrent-requests", type=click.IntRange(min=1), default=70, show_default=True)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option("--mig-memory-gb", type=click.FloatRange(0, 1e4, min_open=True), default=None,
              help="Memory of the MIG servers, GB [default: the profile's 9.1; the authors' single-run driver: 8.2].")
@_with_common
def generate_topology(output: str | None, name: str | None, **kw: Any) -> None:
    """The BPRR paper's scattered scenario: servers and a proxy client on a real network (Topology Zoo)."""
    from .generators import topology_instance

    _emit_instance(topology_instance(name=name, **kw), output)


@generate.command("random")
@click.option("--servers", "num_servers", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--clients", "num_clients", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--model", default="llama-2-70b", show_default=True)
@click.option("--dtype", type=click.Choice(["fp16", "int8", "nf4"]), default="nf4", show_default=True)
@click.option("--eta", type=click.FloatRange(0, 1), default=0.2, show_default=True)
@click.option("--arrival-rate", type=click.FloatRange(0, 1e6, min_open=True), default=1.0, show_default=True)
@click.option("--concurrent-requests", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@_with_common
def generate_random(output: str | None, name: str | None, **kw: Any) -> None:
    """Random synthetic instance for scaling studies (RTT from distance)."""
    from .generators import random_instance

    _emit_instance(random_instance(name=name, **kw), output)


if __name__ == "__main__":  # pragma: no cover
    run()
