"""optim's PETALS baseline against PETALS' own code, on random swarms.

Usage: ``python benchmarks/check_against_petals.py --petals PATH [--swarms 1500] [--windows 20000] [--seed 0]``

``PATH`` is a checkout of bigscience-workshop/petals (checked at 22afba6). Nothing of it is copied
here: its ``src/petals/server/block_selection.py`` and the min-latency routing methods of
``src/petals/client/routing/sequence_manager.py`` are loaded from the checkout at run time, with
their imports of hivemind and of PETALS' data structures replaced by small stand-ins, and run
beside optim's implementation (:mod:`optim.solvers.petals`, :mod:`optim.routing`) on the same
random swarms. The routing check needs ``pip install dijkstar`` (PETALS' Dijkstra).

Checks:

1. ``_choose_best_start`` against :func:`optim.solvers._windows.lexmin_sorted_window` on random
   throughput vectors, half of them with ties.
2. Joining: every server of a random swarm joins in turn by PETALS' ``choose_best_blocks``; optim's
   join must choose the same span.
3. Rebalancing: PETALS' ``should_choose_other_blocks`` (balance_quality 0.75) against
   :func:`optim.solvers.petals.should_move` for every server of every swarm, over 8 shuffle seeds
   each. Both run a local search in a random order, so on a few swarms the answer depends on the
   order; those are counted apart, and for 20 of them the share of "move" over 400 orders is
   compared, in standard errors of the difference.
4. Routing, client relaying: the cost and the spans of PETALS' ``_build_inference_graph`` +
   ``dijkstar.find_path`` + ``_make_sequence_with_min_latency`` (with each server's ``next_pings``
   set to the client's RTT to the next server, as the client relays) against
   :func:`optim.routing.shortest_hops` on :func:`optim.routing.petals_hop_costs`'s coefficients,
   including the 10 s penalty for a server short of cache and RTTs past the 5 s cap.
5. Routing, direct (``communication.relay = "direct"``): ``next_pings`` are the server-server
   RTTs, against :func:`optim.routing.shortest_hops_direct` on the costs of
   :func:`optim.routing.direct_hop_costs` with ``objective="petals"``.

Measured (PETALS 22afba6, seed 0, 1,500 swarms, 42 s): 20,000 of 20,000 window choices equal; 12,152
of 12,152 joins equal; 11,961 rebalancing checks with one answer on both sides, all equal, and 191
that depend on the order, where the share of "move" differs by 0.029 on average and by at most 2.5
standard errors over 20 cases (sampling noise); 1,524 relayed and 1,594 direct routes with the same
cost (to 2.3e-15) and the same spans.
"""
from __future__ import annotations

import argparse
import ast
import logging
import sys
import types
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from rich.console import Console
from rich.table import Table

from optim.routing import (ALLOC_PENALTY_S, HOP_OVERHEAD_S, MAX_DELAY_S, shortest_hops,
                           shortest_hops_direct)
from optim.solvers._windows import lexmin_sorted_window
from optim.solvers.petals import _block_throughput, should_move

BALANCE_QUALITY = 0.75
ORDERS = 400  #: shuffle orders per side for a rebalancing check whose answer depends on the order


class Span:
    """Stand-in for PETALS' ``RemoteSpanInfo``: a server's span and its announced info."""

    def __init__(self, peer_id, start: int, end: int, server_info=None, throughput: float = 0.0):
        self.peer_id, self.start, self.end, self.server_info = peer_id, start, end, server_info
        self.throughput = throughput

    @property
    def length(self) -> int:
        return self.end - self.start


class Peer(str):
    """Stand-in for hivemind's ``PeerID``."""

    def to_base58(self) -> str:
        return str(self)


class Unlocked:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class MissingBlocksError(Exception):
    pass


def load_block_selection(petals: Path) -> dict:
    """PETALS' block_selection.py, its imports replaced; ``ns["SPANS"]`` is the swarm it sees."""
    src = (petals / "src/petals/server/block_selection.py").read_text()
    tree = ast.parse(src)
    tree.body = [n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom))]
    ns: dict = {"np": np, "Dict": Dict, "List": List, "PeerID": str, "RemoteModuleInfo": object,
                "RemoteSpanInfo": Span, "ServerState": types.SimpleNamespace(JOINING=1),
                "get_logger": logging.getLogger, "SPANS": {}}
    ns["compute_spans"] = lambda infos, min_state: {
        k: Span(v.peer_id, v.start, v.end, throughput=v.throughput) for k, v in ns["SPANS"].items()}
    exec(compile(tree, str(petals / "block_selection.py"), "exec"), ns)
    return ns


def load_routing(petals: Path) -> type:
    """The min-latency methods of PETALS' ``RemoteSequenceManager`` as a class of their own."""
    tree = ast.parse((petals / "src/petals/client/routing/sequence_manager.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "RemoteSequenceManager")
    wanted = {"_build_inference_graph", "_rtt_to_delay", "_has_cache_for", "_make_sequence_with_min_latency"}
    stub = ast.ClassDef(name="MinLatency", bases=[], keywords=[], decorator_list=[],
                        body=[f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name in wanted])
    mod = ast.fix_missing_locations(ast.Module(body=[stub], type_ignores=[]))
    import dijkstar

    ns = {"Optional": Optional, "List": List, "np": np, "dijkstar": dijkstar, "RemoteSpanInfo": Span,
          "MissingBlocksError": MissingBlocksError, "logger": logging.getLogger("petals")}
    exec(compile(mod, str(petals / "sequence_manager.py"), "exec"), ns)
    return ns["MinLatency"]


def random_spans(rng, L: int, J: int) -> tuple[np.ndarray, np.ndarray] | None:
    m = rng.integers(1, L + 1, J)
    start = np.array([int(rng.integers(0, L - mj + 1)) for mj in m])
    end = start + m
    covered = all(((start <= b) & (b < end)).any() for b in range(L))
    return (start, end) if covered else None


def check_windows(bs: dict, rng, n: int) -> tuple[int, int]:
    same = 0
    for trial in range(n):
        L = int(rng.integers(1, 40))
        w = int(rng.integers(1, L + 1))
        t = rng.integers(0, 4, L).astype(float) if trial % 2 else rng.random(L) * 10
        same += bs["_choose_best_start"](t, w) == lexmin_sorted_window(t, w)
    return same, n


def joined_swarm(bs: dict, rng) -> tuple:
    """A random swarm whose servers join one by one; returns it and (joins equal, joins)."""
    L, J = int(rng.integers(4, 60)), int(rng.integers(2, 15))
    m = rng.integers(1, L + 1, J)
    thr = np.round(rng.random(J) * 100, 3) + 0.5
    start, end = np.zeros(J, dtype=int), np.zeros(J, dtype=int)
    same = 0
    for j in range(J):
        bs["SPANS"] = {i: Span(i, int(start[i]), int(end[i]), throughput=float(thr[i])) for i in range(j)}
        theirs = bs["choose_best_blocks"](int(m[j]), [None] * L)[0]
        ours = lexmin_sorted_window(_block_throughput(start[:j], end[:j], thr[:j], L), int(m[j]))
        same += theirs == ours
        start[j], end[j] = theirs, theirs + m[j]
    return (L, m, thr, start, end), (same, J)


def move_answers(bs: dict, swarm, j: int, seeds) -> tuple[list[bool], list[bool]]:
    L, m, thr, start, end = swarm
    bs["SPANS"] = {i: Span(i, int(start[i]), int(end[i]), throughput=float(thr[i])) for i in range(len(m))}
    theirs = []
    for s in seeds:
        np.random.seed(s)  # PETALS shuffles with numpy's global generator
        theirs.append(bool(bs["should_choose_other_blocks"](j, [None] * L, BALANCE_QUALITY)))
    ours = [bool(should_move(j, start, end, thr, L, BALANCE_QUALITY, np.random.default_rng(10_000 + s)))
            for s in seeds]
    return theirs, ours


def petals_route(MinLatency: type, start, end, L, rtt_s, rps, cache_left, tokens, next_pings):
    """PETALS' min-latency cost and spans for one session (server indices, half-open spans)."""
    J = len(start)
    peers = [Peer(f"p{j}") for j in range(J)]
    infos = [types.SimpleNamespace(inference_rps=rps[j], cache_tokens_left=int(cache_left[j]),
                                   next_pings={str(peers[k]): next_pings[j, k] for k in range(J)})
             for j in range(J)]
    spans = [Span(peers[j], int(start[j]), int(end[j]), infos[j]) for j in range(J) if end[j] > start[j]]
    seq = MinLatency()
    seq.lock_changes = Unlocked()
    seq.state = types.SimpleNamespace(sequence_info=types.SimpleNamespace(
        spans_by_priority=spans, spans_containing_block=[[s for s in spans if s.start <= b < s.end] for b in range(L)]))
    seq.ping_aggregator = types.SimpleNamespace(to_dict=lambda: {peers[j]: rtt_s[j] for j in range(J)})
    MinLatency.__len__ = lambda self: L
    import dijkstar

    cost = dijkstar.find_path(seq._build_inference_graph(0, L, cache_tokens_needed=tokens), "start", "end").total_cost
    hops = [(peers.index(s.peer_id), s.start, s.end)
            for s in seq._make_sequence_with_min_latency(0, L, cache_tokens_needed=tokens)]
    return cost, hops


def check_routing(MinLatency: type, rng, n: int, direct: bool) -> tuple[int, int, int, float]:
    tried = same_cost = same_hops = 0
    worst = 0.0
    for trial in range(n):
        L, J = int(rng.integers(2, 30)), int(rng.integers(1, 10))
        spans = random_spans(rng, L, J)
        if spans is None:
            continue
        start, end = spans
        rtt_s = rng.random(J) * (12.0 if trial % 10 == 0 else 0.3)  # some past PETALS' 5 s cap
        rps = rng.random(J) * 50 + 1
        tokens = int(rng.integers(100, 2000))
        cache_left = rng.integers(0, 4 * tokens * L, J)
        penalty = np.where(2 * tokens * (end - start) <= cache_left, 0.0, ALLOC_PENALTY_S)
        delay = np.minimum(rtt_s / 2, MAX_DELAY_S)
        if direct:
            server_rtt = rng.random((J, J)) * 0.3
            server_rtt = (server_rtt + server_rtt.T) / 2
            np.fill_diagonal(server_rtt, 0.0)
            cost, hops = petals_route(MinLatency, start, end, L, rtt_s, rps, cache_left, tokens, server_rtt)
            P = np.minimum(np.vstack([rtt_s[None, :], server_rtt]) / 2, MAX_DELAY_S) + HOP_OVERHEAD_S
            ours, ours_cost = shortest_hops_direct(start, end, L, P, delay, 1.0 / rps, penalty)
        else:  # the client relays: the next hop's delay is the client's to that server
            cost, hops = petals_route(MinLatency, start, end, L, rtt_s, rps, cache_left, tokens,
                                      np.tile(rtt_s, (J, 1)))
            A = delay + HOP_OVERHEAD_S + np.where(end == L, delay, 0.0)
            ours, ours_cost = shortest_hops(start, end, L, A, 1.0 / rps, penalty)
        tried += 1
        worst = max(worst, abs(ours_cost - cost) / cost)
        same_cost += abs(ours_cost - cost) <= 1e-9 * cost
        same_hops += [tuple(h) for h in ours] == hops
    return tried, same_cost, same_hops, worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--petals", type=Path, required=True, help="a checkout of bigscience-workshop/petals")
    ap.add_argument("--swarms", type=int, default=1500)
    ap.add_argument("--windows", type=int, default=20_000, help="random throughput vectors for check 1")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not (args.petals / "src/petals/server/block_selection.py").is_file():
        sys.exit(f"--petals {args.petals}: no src/petals/server/block_selection.py there; expected a checkout "
                 "of https://github.com/bigscience-workshop/petals")
    rng = np.random.default_rng(args.seed)
    bs = load_block_selection(args.petals)
    t = Table(title=f"optim's PETALS baseline against PETALS' code ({args.petals}), seed {args.seed}")
    for col in ("check", "cases", "equal", "notes"):
        t.add_column(col, justify="left" if col in ("check", "notes") else "right")
    same, n = check_windows(bs, rng, args.windows)
    t.add_row("_choose_best_start", f"{n:,}", f"{same:,}", "half with ties")
    joins = [0, 0]
    agree = disagree = 0
    dependent: list[tuple] = []
    for _ in range(args.swarms):
        swarm, (same, n) = joined_swarm(bs, rng)
        joins[0] += same
        joins[1] += n
        for j in range(len(swarm[1])):
            theirs, ours = move_answers(bs, swarm, j, range(8))
            if len(set(theirs)) > 1 or len(set(ours)) > 1:
                dependent.append((swarm, j))
            elif theirs == ours:
                agree += 1
            else:
                disagree += 1
    t.add_row("choose_best_blocks (joins)", f"{joins[1]:,}", f"{joins[0]:,}", "")
    t.add_row("should_choose_other_blocks", f"{agree + disagree:,}", f"{agree:,}",
              f"{len(dependent)} more depend on the shuffle order")
    if dependent:
        shares = [move_answers(bs, swarm, j, range(ORDERS)) for swarm, j in dependent[:20]]
        p = np.array([(np.mean(a), np.mean(b)) for a, b in shares])
        se = np.sqrt((p * (1 - p)).sum(axis=1) / ORDERS)
        z = np.abs(p[:, 0] - p[:, 1]) / np.maximum(se, 1e-12)
        t.add_row("  order-dependent: P(move)", str(len(p)), "-",
                  f"over {ORDERS} orders each: |PETALS - optim| mean {np.abs(p[:, 0] - p[:, 1]).mean():.3f}, "
                  f"largest {z.max():.1f} standard errors")
    try:
        MinLatency = load_routing(args.petals)
    except ImportError:
        t.add_row("routing", "-", "-", "skipped: pip install dijkstar")
    else:
        for direct in (False, True):
            tried, same_cost, same_hops, worst = check_routing(MinLatency, rng, 2 * args.swarms, direct)
            t.add_row(f"min-latency routing, {'direct' if direct else 'client relays'}", f"{tried:,}",
                      f"{min(same_cost, same_hops):,}",
                      f"same cost {same_cost:,}, same spans {same_hops:,}; worst cost difference {worst:.1e}")
    Console(width=160).print(t)


if __name__ == "__main__":
    main()
