"""Server configurations as a decision: the dtype (quantisation) and the tensor-parallel degree.

An instance states, for every server, the dtype and TP degree its per-block times were measured or
derived for. A server may also allow others (``Server.dtypes``, ``model.dtypes``,
``Server.tp_degrees``); a solver then chooses one **configuration** per server, recorded in its
placement (``ServerPlacement.dtype``, ``.tp_degree``). :func:`configured_instance` turns an
instance and those choices into the instance the solution runs on, which the validator, the
simulator and the exporter use, so every consumer sees one model.

The times of a configuration other than the stated one keep the stated (possibly measured) times
and scale each part by the roofline of :func:`optim.perf.parallelism.parallel_block_times`:
``t(alt) = t(stated) x roofline(alt) / roofline(stated)``, separately for the fixed prefill, the
prefill per token and the decode per token. That needs the server's GPU profile (``Server.gpu``
naming a known profile; a measured ``-BPRR`` profile uses its roofline twin); a server without one
offers only its stated configuration.

LLM-PQ (Zhao et al., arXiv 2403.01136) chooses precision per device for heterogeneous serving; this
module gives optim the same decision over PETALS' dtypes (fp16, int8, nf4), against the
quality penalty the user sets (``model.quality_penalty_ms_per_block_per_token``, default none).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .errors import InvalidInstanceError, UnknownGPUError
from .instance import Instance, Server
from .units import MS


@dataclass(frozen=True)
class Configuration:
    """How one server runs its span: weight dtype and tensor-parallel degree."""

    dtype: str
    tp_degree: int

    def label(self) -> str:
        return f"{self.dtype}/tp{self.tp_degree}"


def stated(inst: Instance, j: int) -> Configuration:
    """The configuration server j's times are stated for."""
    s = inst.servers[j]
    return Configuration(s.dtype or inst.model.dtype, s.tp)


def _roofline(inst: Instance, s: Server, conf: Configuration):
    from .gpu import get_gpu
    from .modelcard import load_model_card
    from .perf.parallelism import link_of, parallel_block_times

    if not s.gpu or not inst.model.card:
        return None
    try:
        gpu = get_gpu(s.gpu.removesuffix("-BPRR"))
    except UnknownGPUError:
        return None
    card = load_model_card(inst.model.card)
    return parallel_block_times(gpu, card, conf.dtype, conf.tp_degree, link_of(s.interconnect, s.interconnect_gb_per_s),
                                inst.communication.activation_bytes)


def server_options(inst: Instance, j: int) -> list[Configuration]:
    """The configurations server j may run, its stated one first.

    Allowed dtypes: ``Server.dtypes``, else ``model.dtypes``, else the stated one; allowed TP
    degrees: ``Server.tp_degrees``, else the stated one. A server whose GPU profile is unknown (or
    whose model has no card) offers only its stated configuration.
    """
    s, base = inst.servers[j], stated(inst, j)
    dtypes = s.dtypes or inst.model.dtypes or [base.dtype]
    degrees = s.tp_degrees or [base.tp_degree]
    opts = [base] + [Configuration(d, p) for d, p in itertools.product(dtypes, degrees)
                     if (d, p) != (base.dtype, base.tp_degree)]
    if len(opts) > 1 and _roofline(inst, s, base) is None:
        return [base]
    return opts


def has_choices(inst: Instance) -> bool:
    """Whether any server may run more than one configuration."""
    return any(len(server_options(inst, j)) > 1 for j in range(inst.num_servers))


def _server_as(inst: Instance, j: int, conf: Configuration) -> dict[str, Any]:
    """Server j's instance entry when it runs ``conf`` (times rescaled by the roofline ratio)."""
    s = inst.servers[j]
    rec = s.model_dump()
    base = stated(inst, j)
    if conf == base:
        return rec
    if conf not in server_options(inst, j):
        raise InvalidInstanceError(f"placement: server {s.id!r} cannot run {conf.label()}; it allows "
                                   f"{', '.join(o.label() for o in server_options(inst, j))}")
    old, new = _roofline(inst, s, base), _roofline(inst, s, conf)

    def scaled(value_ms: float, a: float, b: float) -> float:
        return value_ms * b / a if a > 0 else b / MS

    rec.update(dtype=conf.dtype, tp_degree=conf.tp_degree,
               prefill_ms_per_block=scaled(s.prefill_ms_per_block, old.prefill_s, new.prefill_s),
               prefill_ms_per_block_per_token=scaled(s.prefill_ms_per_block_per_token, old.prefill_s_per_token,
                                                     new.prefill_s_per_token),
               decode_ms_per_block_per_token=scaled(s.decode_ms_per_block_per_token, old.decode_s_per_token,
                                                    new.decode_s_per_token))
    return rec


def configure(inst: Instance, choice: dict[str, Configuration]) -> Instance:
    """The instance in which the servers named in ``choice`` run the configuration given.

    Parameters
    ----------
    choice : dict
        Server id -> :class:`Configuration`; servers not named keep their stated one.

    Returns
    -------
    Instance
        Validated again; its servers state the chosen dtype and TP degree and the times for them
        (see the module docstring), and keep the allowed lists, so it can be configured again.

    Raises
    ------
    InvalidInstanceError
        A server id that is not in the instance, or a configuration the server does not allow.
    """
    for sid in choice:
        if sid not in inst.server_index:
            raise InvalidInstanceError(f"placement: {sid!r} is not a server of instance {inst.name!r}")
    if all(choice[sid] == stated(inst, inst.server_index[sid]) for sid in choice):
        return inst
    servers = [_server_as(inst, j, choice.get(s.id, stated(inst, j))) for j, s in enumerate(inst.servers)]
    return inst.replace(servers=servers)


def choices_of(inst: Instance, sol: Any) -> dict[str, Configuration]:
    """The configurations a solution's placement records (entries that name a dtype or TP degree)."""
    out = {}
    for p in sol.placement:
        if (p.dtype is not None or p.tp_degree is not None) and p.server in inst.server_index:
            base = stated(inst, inst.server_index[p.server])
            out[p.server] = Configuration(p.dtype or base.dtype, p.tp_degree or base.tp_degree)
    return out


def configured_instance(inst: Instance, sol: Any) -> Instance:
    """The instance ``sol`` runs on: ``inst`` with the configurations its placement chooses.

    Raises
    ------
    InvalidInstanceError
        The placement chooses a configuration a server does not allow.
    """
    choice = choices_of(inst, sol)
    return configure(inst, choice) if choice else inst


def option_arrays(inst: Instance) -> tuple[Instance, np.ndarray, list[Configuration]]:
    """Every (server, configuration) pair as a server of its own, for the exact models.

    Returns
    -------
    expanded : Instance
        One server per pair (id ``"<server>@<dtype>/tp<p>"``, the stated one keeping its id), its
        RTTs those of its server; the MILPs let at most one pair of a server hold blocks.
    owner : ndarray of int, shape (J',)
        The server index of each pair.
    confs : list of Configuration, length J'
    """
    servers, owner, confs, alias = [], [], [], {}
    for j, s in enumerate(inst.servers):
        for k, conf in enumerate(server_options(inst, j)):
            rec = _server_as(inst, j, conf)
            if k:
                rec["id"] = f"{s.id}@{conf.label()}"
                alias[rec["id"]] = s.id
            servers.append(rec)
            owner.append(j)
            confs.append(conf)
    if not alias:
        return inst, np.arange(inst.num_servers), confs
    rtt = inst.rtt.model_dump()
    if rtt["ids"] is not None:
        ids = rtt["ids"]
        pos = {k: i for i, k in enumerate(ids)}
        order = [pos[k] for k in ids] + [pos[alias[a]] for a in alias]
        M = np.asarray(rtt["rtt_ms"])[np.ix_(order, order)]
        rtt = {"ids": ids + list(alias), "rtt_ms": M.tolist()}
    else:
        cpos = {k: i for i, k in enumerate(rtt["cols"])}
        order = list(range(len(rtt["cols"]))) + [cpos[alias[a]] for a in alias]
        rtt = {"rows": rtt["rows"], "cols": rtt["cols"] + list(alias),
               "rtt_ms": np.asarray(rtt["rtt_ms"])[:, order].tolist()}
    return inst.replace(servers=servers, rtt=rtt), np.asarray(owner), confs


def search_configurations(inst: Instance, run: Callable[[Instance], Any], value: Callable[[Instance, Any], float],
                          max_rounds: int = 3) -> tuple[Instance, Any, dict[str, Configuration]]:
    """Choose each server's configuration for a heuristic solver, by greedy coordinate descent.

    Start from the best of three choices (the stated configurations; each server's fewest bytes per
    block; each server's least penalised decode time per block, ``tau_j + penalty``); then, server by server, try every
    other configuration it allows, re-running the solver, and keep a change when the penalised
    objective ``value`` falls; repeat until a round changes nothing (at most ``max_rounds``).
    Each evaluation is one heuristic solve, so a round costs sum_j (options_j - 1) solves.

    Parameters
    ----------
    run : callable(Instance) -> Solution
        The heuristic on a configured instance.
    value : callable(Instance, Solution) -> float
        The objective to minimise (penalty included); ``inf`` for no solution.

    Returns
    -------
    configured : Instance
    solution : the best solution found, on ``configured``
    choice : dict of server id -> Configuration
    """
    options = {s.id: server_options(inst, j) for j, s in enumerate(inst.servers)}
    choice = {sid: opts[0] for sid, opts in options.items()}
    if all(len(o) == 1 for o in options.values()):
        sol = run(inst)
        return inst, sol, choice

    def attempt(ch):
        cand = configure(inst, ch)
        sol = run(cand)
        return cand, sol, value(cand, sol)

    # starts: the stated configurations, the fewest bytes per block (most blocks, shortest chains), and the
    # least penalised decode time per block
    def pick(key):
        out = {}
        for j, s in enumerate(inst.servers):
            scored = [(key(configure(inst, {s.id: conf}), j), k, conf) for k, conf in enumerate(options[s.id])]
            out[s.id] = min(scored, key=lambda r: (r[0], r[1]))[2]
        return out

    starts = [choice, pick(lambda one, j: (one.server_block_bytes[j], one.decode_s[j] + one.quality_penalty_s[j])),
              pick(lambda one, j: (one.decode_s[j] + one.quality_penalty_s[j], one.server_block_bytes[j]))]
    best = min((attempt(ch) + (ch,) for ch in starts), key=lambda r: r[2])
    cand, sol, val, choice = best
    choice = dict(choice)
    for _ in range(max_rounds):
        changed = False
        for sid, opts in options.items():
            for conf in opts:
                if conf == choice[sid]:
                    continue
                trial = {**choice, sid: conf}
                c2, s2, v2 = attempt(trial)
                if v2 < val - 1e-12:
                    cand, sol, val, choice, changed = c2, s2, v2, trial, True
        if not changed:
            break
    return cand, sol, choice


def penalty_per_request_s(inst: Instance, sol: Any, objective: str = "inference") -> float:
    """The quality penalty a solution's requests pay, seconds per request (``inference``: every decode
    step of every block at its server's dtype penalty) or per token (``decode``), weighted by the
    requests its paths carry; 0 without penalties."""
    pen = inst.quality_penalty_s
    if not np.any(pen > 0) or not (sol.paths or sol.chains):
        return 0.0
    steps = inst.workload.output_tokens_mean - 1.0 if objective == "inference" else 1.0
    # chains carry jobs in proportion to c_k / T_k (their rate when full); paths their requests
    routes = ([(ch.hops, ch.capacity / ch.service_time_s) for ch in sol.chains] if sol.chains
              else [(p.hops, max(p.requests, 0) or 1) for p in sol.paths])
    total = sum(w * steps * sum(pen[inst.server_index[h.server]] * (h.end - h.start) for h in hops) for hops, w in routes)
    return total / max(sum(w for _, w in routes), 1e-300)


def paths_metric(inst: Instance, sol: Any, objective: str = "inference") -> float:
    """The request-weighted mean over a solution's paths of the decode time per token (``decode``) or
    the inference time (``inference``), seconds (:func:`optim.perf.path_times`)."""
    from .perf import path_times

    total, n = 0.0, 0
    for path in sol.paths:
        c = inst.client_index[path.client]
        t = path_times(inst, c, np.array([inst.server_index[h.server] for h in path.hops]),
                       np.array([h.end - h.start for h in path.hops]))
        w = max(path.requests, 0) or 1
        total += w * (t.decode_s_per_token if objective == "decode" else t.inference_s)
        n += w
    return total / max(n, 1)


def with_choices(inst: Instance, solver: str, run: Callable[[Instance], Any], metric: Callable[[Instance, Any], float],
                 objective: str = "inference") -> Any:
    """Run a heuristic over the configurations the servers allow and return its best solution,
    its placement recording each used server's dtype and TP degree (:func:`search_configurations`).

    ``metric(configured, solution)`` is the solver's own objective; the search minimises it plus
    :func:`penalty_per_request_s`. Without choices this is ``run(inst)``.
    """
    if not has_choices(inst):
        return run(inst)

    def value(cand, sol):
        if not sol.has_solution:
            return float("inf")
        return metric(cand, sol) + penalty_per_request_s(cand, sol, objective)

    cand, sol, choice = search_configurations(inst, run, value)
    if not sol.has_solution:
        return sol
    placement = [p.model_copy(update={"dtype": choice[p.server].dtype, "tp_degree": choice[p.server].tp_degree})
                 if p.end > p.start else p for p in sol.placement]
    details = {**sol.details, "configurations": {p.server: choice[p.server].label() for p in sol.placement
                                                  if p.end > p.start},
               "quality_penalty_s": penalty_per_request_s(cand, sol, objective)}
    return sol.model_copy(update={"placement": placement, "details": details})
