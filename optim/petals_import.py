"""A live PETALS swarm as an instance and its current placement: ``optim import petals STATE.json``.

The input is the JSON state the PETALS health monitor publishes (petals-infra/health.petals.dev,
``health.py`` ``fetch_health_state``): ``model_reports[]``, each with ``name``, ``num_blocks``,
``repository`` and ``server_rows[]``; a row has ``peer_id``, ``state`` (``online``, ``joining``,
``offline``, ``unreachable``), ``span`` ``{start, end, length, server_info}``, ``pings_to_me``
``{peer_id: rtt_s}`` and ``cache_tokens_left_per_block``. ``server_info`` is PETALS'
``ServerInfo`` (``petals/data_structures.py``): ``throughput``, ``inference_rps``,
``forward_rps``, ``network_rps``, ``cache_tokens_left``, ``torch_dtype``, ``quant_type``,
``using_relay``, ``public_name``, ``next_pings`` ``{peer_id: rtt_s}``.

How each instance field is made, and what is filled when the state lacks it (every fill is listed
in ``provenance.fills`` and printed):

- **Servers**: the ``online`` and ``joining`` rows (a joining server is loading the span it
  announced); ``offline`` and ``unreachable`` rows are dropped and listed. The id is the
  ``public_name`` when it is unique, else the peer id.
- **Per-block times** from PETALS' own measurements (``petals/server/throughput.py``): both
  ``inference_rps`` and ``forward_rps`` are tokens per second through one block, so the decode
  time per block and token is ``1 / inference_rps`` and the prefill time per block and input
  token ``1 / forward_rps``; the fixed prefill time per block is the roofline's 1 ms. Missing
  ``inference_rps``: ``forward_rps`` times the median ratio of the servers that report both (or
  of the roofline on an A100-80GB); missing ``forward_rps``: from ``throughput =
  forward_rps / ((m + 1) / 2)``.
- **Bandwidth**: ``network_rps`` is ``min(download, upload) / (hidden_size x 16 bits)`` tokens/s,
  so ``bandwidth_mbps = network_rps x hidden_size x 16 / 1e6``; absent: the instance default.
- **Dtype**: ``quant_type`` none (fp16/bf16 weights), int8 or nf4.
- **Memory**: the span's weights plus the attention cache the server has free,
  ``cache_tokens_left_per_block`` tokens per block (the health monitor's figure, or
  ``cache_tokens_left / (2 m)`` as it computes it); without either, PETALS' default budget (16384
  tokens with GQA, else 4096). A snapshot taken under load under-counts the cache in use, so
  ``memory_gb`` overrides per server.
- **RTTs between servers** from the pings (seconds, as PETALS' ``PingAggregator`` measures them;
  non-finite = failed): a direction's reports (a server's ``next_pings`` and the target's
  ``pings_to_me``, which the monitor copies from them) are averaged, then the two directions;
  unmeasured pairs get the median of all measured pings.
- **Clients**: the snapshot has none. Default: one client ``c0`` whose RTT to each server is the
  median of the pings measured *to* that server (what a swarm participant sees), or the median of
  all pings; arrival rate ``arrival_rate_per_s``.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InvalidInstanceError
from .instance import Instance
from .solution import ServerPlacement, Solution, Status

#: PETALS' ServerState names the monitor writes
KEPT_STATES = ("online", "joining")
DROPPED_STATES = ("offline", "unreachable")
QUANT_TO_DTYPE = {"none": "fp16", None: "fp16", "int8": "int8", "nf4": "nf4"}
DEFAULT_RTT_MS = 50.0  #: when no ping at all was measured


@dataclass
class ImportedSwarm:
    """What :func:`import_petals_state` returns.

    Attributes
    ----------
    instance : Instance
    solution : Solution
        The swarm's current placement (spans and the cache they have), routed by PETALS'
        min-latency routing; ``infeasible`` (with the unserved blocks) when the swarm is broken.
    fills : list of str
        Every value the state lacked and how it was filled.
    dropped : list of dict
        Rows left out: ``peer_id``, ``state``, reason.
    """

    instance: Instance
    solution: Solution
    fills: list[str] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)


def load_petals_state(path: str) -> dict:
    """Read a health-monitor state file. PETALS writes failed pings as ``Infinity``, which is
    accepted here (as unmeasured) though not in optim's own files.

    Raises
    ------
    InvalidInstanceError
        Unreadable file or invalid JSON, naming the path.
    """
    from .instance import decode_text, read_text_file

    text = decode_text(read_text_file(path, "PETALS state file"), path)
    try:
        data = json.loads(text, parse_constant=lambda name: math.inf if name == "Infinity" else math.nan)
    except json.JSONDecodeError as err:
        raise InvalidInstanceError(f"not valid JSON: {err.msg} at line {err.lineno} column {err.colno}", path) from None
    except RecursionError:
        raise InvalidInstanceError("JSON nested too deeply to read", path) from None
    if not isinstance(data, dict) or not isinstance(data.get("model_reports"), list):
        raise InvalidInstanceError("model_reports: missing; expected the PETALS health monitor's state (a mapping "
                                   "with a model_reports list)", path)
    return data


def _card_for(report: dict, card: str | None, where: str) -> str:
    from .modelcard import list_model_cards, load_model_card

    if card:
        load_model_card(card)
        return card
    names = {str(report.get(k) or "") for k in ("name", "repository", "short_name")} - {""}
    wanted = {re.sub(r"^https://huggingface\.co/", "", n).strip("/").casefold() for n in names}
    wanted |= {w.split("/")[-1] for w in wanted}

    def norm(s: str) -> str:
        return re.sub(r"(-chat)?(-hf)?(-petals)?$", "", s.casefold())

    for name in list_model_cards():
        src = getattr(load_model_card(name), "source", "") or ""
        m = re.match(r"https://huggingface\.co/([^/]+/[^/]+)", src)
        repo = m.group(1).casefold() if m else ""
        if repo and (repo in wanted or repo.split("/")[-1] in wanted
                     or norm(repo.split("/")[-1]) in {norm(w) for w in wanted}):
            return name
    raise InvalidInstanceError(f"{where}.name: {report.get('name')!r} matches no shipped model card "
                               f"({', '.join(list_model_cards())}); give the card with --model")


def _finite_ping_ms(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x * 1e3 if math.isfinite(x) and x >= 0 else None


def import_petals_state(state: dict, *, card: str | None = None, report: str | None = None,
                        arrival_rate_per_s: float = 0.2, memory_gb: dict[str, float] | None = None,
                        input_tokens_mean: float = 2000, output_tokens_mean: float = 20,
                        concurrent_requests: int = 16, source: str = "PETALS state") -> ImportedSwarm:
    """Turn a PETALS health-monitor state into an instance and the swarm's current placement.

    Parameters
    ----------
    state : dict
        The monitor's JSON state (:func:`load_petals_state`).
    card : str, optional
        Model card; default: the one whose Hugging Face repository the report names.
    report : str, optional
        Which ``model_reports[]`` entry (by ``name`` or ``short_name``); default: the one with most
        online servers.
    arrival_rate_per_s : float
        lambda of the one client.
    memory_gb : dict, optional
        Server id (or peer id) -> memory in GB (1e9 B), replacing the estimate from the snapshot.
    input_tokens_mean, output_tokens_mean : float
    concurrent_requests : int
        The workload to evaluate the swarm on.

    Returns
    -------
    ImportedSwarm

    Raises
    ------
    InvalidInstanceError
        No model report, an unknown model, a block count that differs from the card's, no server
        online, or a malformed row; each names the field (``model_reports[0].server_rows[3].span``).
    """
    from .generators.common import assemble, workload_record
    from .modelcard import load_model_card
    from .units import GB, MS

    reports = state.get("model_reports") or []
    if not reports:
        raise InvalidInstanceError("model_reports: empty; the state lists no model", source)

    def online(r: dict) -> int:
        return sum(1 for row in r.get("server_rows") or [] if isinstance(row, dict) and row.get("state") == "online")

    if report is not None:
        idx = [k for k, r in enumerate(reports) if report in (r.get("name"), r.get("short_name"))]
        if not idx:
            raise InvalidInstanceError(f"model_reports: no report named {report!r}; the state has "
                                       f"{', '.join(str(r.get('name')) for r in reports)}", source)
        k = idx[0]
    else:
        k = max(range(len(reports)), key=lambda i: online(reports[i]))
    rep, where = reports[k], f"model_reports[{k}]"
    card_name = _card_for(rep, card, where)
    mc = load_model_card(card_name)
    if rep.get("num_blocks") is not None and int(rep["num_blocks"]) != mc.num_blocks:
        raise InvalidInstanceError(f"{where}.num_blocks: {rep['num_blocks']}; model card {card_name} has "
                                   f"{mc.num_blocks} blocks", source)
    fills: list[str] = []
    dropped: list[dict] = []
    rows = []
    problems = []
    for i, row in enumerate(rep.get("server_rows") or []):
        path = f"{where}.server_rows[{i}]"
        if not isinstance(row, dict):
            problems.append(f"{path}: a {type(row).__name__}; expected a mapping")
            continue
        st = row.get("state")
        peer = str(row.get("peer_id") or f"row{i}")
        if st in DROPPED_STATES:
            dropped.append({"peer_id": peer, "state": st, "reason": f"{st}: serves no request"})
            continue
        if st not in KEPT_STATES:
            problems.append(f"{path}.state: {st!r}; expected online, joining, offline or unreachable")
            continue
        span = row.get("span") or {}
        info = (span.get("server_info") if isinstance(span, dict) else None) or row.get("server_info") or {}
        try:
            start, end = int(span["start"]), int(span["end"])
        except (KeyError, TypeError, ValueError):
            problems.append(f"{path}.span: {span!r}; expected {{start, end, server_info}}")
            continue
        if not 0 <= start < end <= mc.num_blocks:
            problems.append(f"{path}.span: [{start}, {end}); expected 0 <= start < end <= {mc.num_blocks}")
            continue
        rows.append((path, peer, row, start, end, info))
    if problems:
        raise InvalidInstanceError(problems, source)
    if not rows:
        raise InvalidInstanceError(f"{where}.server_rows: no server is online or joining "
                                   f"({len(dropped)} offline or unreachable)", source)

    # ids: public names where unique
    names = [str(info.get("public_name") or "") for *_, info in rows]
    ids = [n if n and names.count(n) == 1 else peer for n, (_, peer, *_) in zip(names, rows)]
    peer_to_index = {peer: j for j, (_, peer, *_) in enumerate(rows)}
    J = len(rows)

    # per-block times; a measurement present but not a positive number is treated as missing, and said
    measured = {key: np.array([_positive(info.get(key)) for *_, info in rows], dtype=float)
                for key in ("forward_rps", "inference_rps", "throughput")}
    for j, (*_, info) in enumerate(rows):
        for key, values in measured.items():
            if info.get(key) is not None and np.isnan(values[j]):
                fills.append(f"{ids[j]}: {key} {info.get(key)!r} is not a positive number; taken as missing")
    fwd, inf, thr = measured["forward_rps"], measured["inference_rps"], measured["throughput"]
    m = np.array([end - start for _, _, _, start, end, _ in rows], dtype=float)
    for j in np.flatnonzero(np.isnan(fwd) & ~np.isnan(thr)):
        fwd[j] = thr[j] * (m[j] + 1) / 2
        fills.append(f"{ids[j]}: forward_rps from throughput x (m + 1) / 2 (PETALS' throughput rule)")
    both = ~np.isnan(fwd) & ~np.isnan(inf)
    if both.any():
        ratio, how = float(np.median(inf[both] / fwd[both])), "the median ratio of the servers reporting both"
    else:
        from .gpu import block_times, get_gpu

        t = block_times(get_gpu("A100-80GB"), mc, "nf4")
        ratio, how = t.prefill_s_per_token / t.decode_s_per_token, "the roofline ratio on an A100-80GB"
    for j in np.flatnonzero(np.isnan(inf) & ~np.isnan(fwd)):
        inf[j] = fwd[j] * ratio
        fills.append(f"{ids[j]}: inference_rps = forward_rps x {ratio:.4g} ({how})")
    for j in np.flatnonzero(np.isnan(fwd) & ~np.isnan(inf)):
        fwd[j] = inf[j] / ratio
        fills.append(f"{ids[j]}: forward_rps = inference_rps / {ratio:.4g} ({how})")
    missing = [ids[j] for j in np.flatnonzero(np.isnan(inf))]
    if missing:
        raise InvalidInstanceError([f"{rows[j][0]}.span.server_info: no inference_rps, forward_rps or throughput; "
                                    "cannot time the server" for j in np.flatnonzero(np.isnan(inf))], source)
    fills.append("prefill_ms_per_block: 1 ms for every server (the roofline's fixed time; PETALS does not measure it)")

    # memory, dtype, bandwidth
    kv = float(mc.kv_cache_bytes_per_token_per_block)
    default_tokens = 16384 if (mc.num_kv_groups or 1) > 1 else 4096
    servers = []
    dtypes = []
    for j, (path, peer, row, start, end, info) in enumerate(rows):
        quant = info.get("quant_type")
        quant = quant.lower() if isinstance(quant, str) else quant
        if quant not in QUANT_TO_DTYPE:
            raise InvalidInstanceError(f"{path}.span.server_info.quant_type: {quant!r}; expected none, int8 or nf4",
                                       source)
        dtype = QUANT_TO_DTYPE[quant]
        dtypes.append(dtype)
        tokens = row.get("cache_tokens_left_per_block")
        if tokens is None and info.get("cache_tokens_left") is not None:
            tokens = int(info["cache_tokens_left"]) // (2 * (end - start))
            fills.append(f"{ids[j]}: cache tokens per block = cache_tokens_left / (2 m), as the monitor computes it")
        if tokens is None:
            tokens = default_tokens
            fills.append(f"{ids[j]}: cache {default_tokens} tokens per block (PETALS' default attn_cache_tokens)")
        mem = (end - start) * (mc.block_bytes[dtype] + int(tokens) * kv)
        given = (memory_gb or {}).get(ids[j], (memory_gb or {}).get(peer))
        if given is not None:
            mem = float(given) * GB
        else:
            fills.append(f"{ids[j]}: memory = its {end - start} blocks + their free cache ({mem / GB:.2f} GB)")
        bw = _positive(info.get("network_rps"))
        rec = {"id": ids[j], "memory_gb": round(mem / GB, 6), "prefill_ms_per_block": 1.0,
               "prefill_ms_per_block_per_token": round(1.0 / fwd[j] / MS, 9),
               "decode_ms_per_block_per_token": round(1.0 / inf[j] / MS, 9), "batching": "none", "dtype": dtype}
        if not math.isnan(bw) and mc.hidden_size:
            rec["bandwidth_mbps"] = round(bw * mc.hidden_size * 16 / 1e6, 6)
        servers.append(rec)
    if memory_gb:
        unknown = sorted(set(memory_gb) - set(ids) - {peer for _, peer, *_ in rows})
        if unknown:
            raise InvalidInstanceError(f"memory_gb: {', '.join(unknown)} are not servers of the swarm", source)

    # server-server RTTs from pings (ms)
    total, count = np.zeros((J, J)), np.zeros((J, J))  # directed: [origin, target]
    to_me: list[list[float]] = [[] for _ in range(J)]
    for j, (path, peer, row, start, end, info) in enumerate(rows):
        reports = [(origin, j, v) for origin, v in (row.get("pings_to_me") or {}).items()]
        reports += [(peer, target, v) for target, v in (info.get("next_pings") or {}).items()]
        for origin, target, v in reports:
            x = _finite_ping_ms(v)
            o = peer_to_index.get(origin) if isinstance(origin, str) else origin
            t = peer_to_index.get(target) if isinstance(target, str) else target
            if x is None or o is None or t is None or o == t:
                continue
            total[o, t] += x
            count[o, t] += 1
            to_me[t].append(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        directed = np.where(count > 0, total / np.maximum(count, 1), np.nan)  # the mean of a direction's reports
        n = (count > 0).astype(int) + (count.T > 0).astype(int)
        srv = np.where(n > 0, (np.nan_to_num(directed) + np.nan_to_num(directed.T)) / np.maximum(n, 1), np.nan)
    measured = srv[~np.isnan(srv) & ~np.eye(J, dtype=bool)]
    all_pings = [x for xs in to_me for x in xs]
    if all_pings:
        median = float(np.median(all_pings))
        how = f"the median of the {len(all_pings)} measured pings ({median:.1f} ms)"
    else:
        median, how = DEFAULT_RTT_MS, f"{DEFAULT_RTT_MS:g} ms (no ping was measured)"
    unmeasured = int(np.isnan(srv[~np.eye(J, dtype=bool)]).sum() // 2)
    if unmeasured:
        fills.append(f"{unmeasured} of {J * (J - 1) // 2} server pairs without a ping: RTT = {how}")
    srv = np.where(np.isnan(srv), median, srv)
    np.fill_diagonal(srv, 0.0)
    client = np.array([float(np.median(x)) if x else median for x in to_me])
    fills.append(f"one client c0 (the snapshot lists none), lambda = {arrival_rate_per_s:g}/s; its RTT to each "
                 f"server is the median of the pings measured to that server, else {how}")
    rtt = np.zeros((J + 1, J + 1))
    rtt[1:, 1:] = srv
    rtt[0, 1:] = rtt[1:, 0] = client
    provenance = {"generator": "optim.petals_import", "source": source, "model_report": rep.get("name"),
                  "card": card_name, "peer_ids": {ids[j]: rows[j][1] for j in range(J)},
                  "dropped": dropped, "fills": fills, "measured_server_pairs": int(measured.size // 2),
                  "times": "1 / inference_rps and 1 / forward_rps per block (PETALS' own measurements)"}
    inst = assemble(
        f"petals-{card_name}", f"PETALS swarm of {J} servers serving {rep.get('name')} ({source})", provenance,
        {"card": card_name, "dtype": max(set(dtypes), key=dtypes.count)}, servers,
        [{"id": "c0", "arrival_rate_per_s": arrival_rate_per_s}], {"ids": ["c0", *ids], "rtt_ms": np.round(rtt, 3).tolist()},
        workload_record(input_tokens_mean, output_tokens_mean, concurrent_requests),
        {"decode_overhead_ms": 18.0, "prefill_overhead_ms": 18.0, "prefill_overhead_ms_per_token": 0.0,
         "chain_overhead_ms": 18.0})
    return ImportedSwarm(inst, current_solution(inst, [(r[3], r[4]) for r in rows]), fills, dropped)


def _positive(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) and x > 0 else math.nan


def current_solution(inst: Instance, spans: list[tuple[int, int]]) -> Solution:
    """The swarm's placement as a solution: each server's span, the cache slots its memory leaves,
    and PETALS' min-latency routing (:func:`optim.solvers.petals.petals_routing`).

    Returns
    -------
    Solution
        ``feasible``; ``infeasible`` naming the blocks no server holds when the swarm is broken.
    """
    from .perf import free_cache_slots
    from .routing import NoPathError
    from .solvers.petals import petals_routing

    start = np.array([a for a, _ in spans], dtype=np.int64)
    end = np.array([b for _, b in spans], dtype=np.int64)
    m = end - start
    slots = np.maximum(free_cache_slots(inst, m), 0).astype(np.int64)
    placement = [ServerPlacement(server=s.id, start=int(start[j]), end=int(end[j]), cache_slots=int(slots[j]))
                 for j, s in enumerate(inst.servers)]
    covered = np.zeros(inst.num_blocks, dtype=bool)
    for a, b in spans:
        covered[a:b] = True
    if not covered.all():
        gaps = np.flatnonzero(~covered)
        return Solution(instance=inst.name, solver="petals-import", status=Status.INFEASIBLE, placement=placement,
                        message=f"the swarm is broken: blocks {_ranges(gaps)} are held by no online server")
    try:
        paths, short = petals_routing(inst, start, end, slots)
    except NoPathError as err:
        return Solution(instance=inst.name, solver="petals-import", status=Status.INFEASIBLE, placement=placement,
                        message=str(err))
    return Solution(instance=inst.name, solver="petals-import", status=Status.FEASIBLE, placement=placement,
                    paths=paths, details={"requests_routed_short_of_cache": int(short)})


def _ranges(idx: np.ndarray) -> str:
    out, k = [], 0
    while k < len(idx):
        a = b = int(idx[k])
        while k + 1 < len(idx) and idx[k + 1] == b + 1:
            k += 1
            b = int(idx[k])
        out.append(f"[{a}, {b + 1})")
        k += 1
    return ", ".join(out)
