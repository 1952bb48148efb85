"""The BPRR paper's scattered scenario: servers and one client on the nodes of a real network.

Sun, He, Ji, Parag, arXiv 2512.21884, Sec. 7: AboveNet, BellCanada or GTS Central Europe from the
Internet Topology Zoo (shipped in ``optim/data/topology_zoo.json``, derived by
``optim/data/derive_topology_zoo.py``, link delay = great-circle length / 600 km per ms); C servers
on distinct random nodes (C = 0.4 x nodes by default), a fraction eta of them A100-80GB and the rest
MIG 1g.10gb (the paper's measured per-block times for BLOOM-176B nf4), and all requests from one
proxy client on another random node. RTT between two nodes = 2 x the shortest-path delay
(Dijkstra over the links). Per-hop overheads are the scattered setting's of the authors' simulator
(``test_general_case_online.m``, ``realnet``): 100 ms on every per-token round trip (the clustered
scenario has 50 ms) and 67 ms + 0.7049 ms per input token on the prefill's. A MIG 1g.10gb server
has the profile's 9.1 GB, as in the clustered scenario and the authors' topology sweeps
(``General_varying_*_online.m``): the experiments ran both scenarios on the same MIG slices, on which
PETALS put 4 BLOOM blocks (Sec. 7), and PETALS' rule gives 4 from 8.38 GB up. The authors' single-run
driver has 8.2 GB (3 blocks under that rule): ``mig_memory_gb=8.2``.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np

from ..errors import InvalidOptionError
from ..instance import Instance
from .common import assemble, check_positive, check_sizes, gpu_mix, server_record, workload_record

#: the paper's measured overheads per hop in the scattered setting (its code's ``overhead_delay = 100``)
OVERHEADS = {"decode_overhead_ms": 100.0, "prefill_overhead_ms": 67.0, "prefill_overhead_ms_per_token": 0.7049,
             "chain_overhead_ms": 18.0, "include_bandwidth": False}


@lru_cache(maxsize=None)
def topology_data() -> dict:
    """The shipped networks: ``{"source", "delay_rule", "networks": {name: {"nodes", "edges", ...}}}``."""
    return json.loads(resources.files("optim.data").joinpath("topology_zoo.json").read_text())


def networks() -> list[str]:
    """Names of the shipped networks (abovenet, bellcanada, gts-ce)."""
    return list(topology_data()["networks"])


def node_rtt_ms(network: str) -> tuple[list[str], np.ndarray]:
    """Node ids and the RTT between every two nodes, 2 x the shortest-path delay, ms, shape (N, N).

    Raises
    ------
    InvalidOptionError
        Unknown network.
    """
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import shortest_path

    nets = topology_data()["networks"]
    if network not in nets:
        raise InvalidOptionError(f"network: {network!r}; expected one of {', '.join(nets)}")
    net = nets[network]
    ids = [n["id"] for n in net["nodes"]]
    pos = {n: i for i, n in enumerate(ids)}
    u = np.array([pos[e["u"]] for e in net["edges"]])
    v = np.array([pos[e["v"]] for e in net["edges"]])
    w = np.array([max(e["delay_ms"], 1e-9) for e in net["edges"]])  # scipy drops zero weights
    g = csr_array((np.concatenate([w, w]), (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(len(ids),) * 2)
    return ids, 2.0 * shortest_path(g, method="D", directed=True)


def topology_instance(network: str = "gts-ce", num_servers: int | None = None, *, eta: float = 0.2,
                      arrival_rate: float = 0.1, input_tokens: int = 20, output_tokens: int = 64,
                      concurrent_requests: int = 70, seed: int = 0, name: str | None = None,
                      mig_memory_gb: float | None = None) -> Instance:
    """A scattered-scenario instance of the BPRR paper on a real network.

    Parameters
    ----------
    network : {"abovenet", "bellcanada", "gts-ce"}
    num_servers : int, optional
        C; default ``round(0.4 x nodes)`` (the paper's sweeps), at most nodes - 1.
    eta : float
        Fraction of A100-80GB servers; the rest are MIG 1g.10gb (both with the paper's measured times).
    arrival_rate : float
        lambda, requests/s, all from one client.
    input_tokens, output_tokens : int
        l^I_max and l_max (the paper: 20 and 64 or 128).
    concurrent_requests : int
        |R|.
    seed : int
        Picks the server and client nodes and the A100s.
    mig_memory_gb : float, optional
        Memory of the MIG servers, GB; default the profile's 9.1 GB (see the module docstring; the
        authors' single-run driver has 8.2).

    Returns
    -------
    Instance
        Provenance records the network, its source and delay rule, and the nodes chosen.

    Raises
    ------
    InvalidOptionError
        Unknown network, more servers than nodes - 1, eta outside [0, 1], bad sizes or rates.

    Examples
    --------
    >>> from optim.generators import topology_instance
    >>> inst = topology_instance("abovenet", seed=1)
    >>> inst.num_servers, inst.num_clients, inst.model.name
    (9, 1, 'BLOOM-176B')
    """
    ids, rtt = node_rtt_ms(network)
    n_nodes = len(ids)
    num_servers = int(round(0.4 * n_nodes)) if num_servers is None else num_servers
    check_sizes(num_servers, 1, concurrent_requests, seed, max_servers=n_nodes - 1)
    check_positive("arrival_rate", arrival_rate)
    rng = np.random.default_rng(seed)
    nodes = rng.permutation(n_nodes)[: num_servers + 1]
    client_node, server_nodes = nodes[0], nodes[1:]
    high = gpu_mix(num_servers, eta, rng)
    width = len(str(num_servers - 1))
    servers = [server_record(f"s{j:0{width}d}", "A100-80GB-BPRR" if high[j] else "A100-MIG-1g.10gb-BPRR",
                             "bloom-176b", "nf4", city=f"{network}:{ids[server_nodes[j]]}")
               for j in range(num_servers)]
    if mig_memory_gb is not None:
        check_positive("mig_memory_gb", mig_memory_gb)
        for s in servers:
            if s["gpu"] == "A100-MIG-1g.10gb-BPRR":
                s["memory_gb"] = float(mig_memory_gb)
    clients = [{"id": "proxy", "city": f"{network}:{ids[client_node]}", "arrival_rate_per_s": arrival_rate}]
    at = [client_node, *server_nodes]
    all_ids = ["proxy"] + [s["id"] for s in servers]
    name = name or f"{network}-{num_servers}"
    data = topology_data()
    provenance = {"generator": "optim.generators.topology", "network": network, "source": data["source"],
                  "delay_rule": data["delay_rule"] + "; RTT = 2 x shortest-path delay",
                  "client_node": ids[client_node], "server_nodes": [ids[k] for k in server_nodes],
                  "command": (f"optim generate topology --network {network} --servers {num_servers} --eta {eta} "
                              f"--arrival-rate {arrival_rate} --output-tokens {output_tokens} --seed {seed}"
                              + (f" --mig-memory-gb {mig_memory_gb:g}" if mig_memory_gb is not None else ""))}
    return assemble(name, f"BPRR scattered scenario on {network}: {num_servers} servers "
                          f"({int(high.sum())} A100 + {num_servers - int(high.sum())} MIG), one proxy client",
                    provenance, {"card": "bloom-176b", "dtype": "nf4"}, servers, clients,
                    {"ids": all_ids, "rtt_ms": np.round(rtt[np.ix_(at, at)], 4).tolist()},
                    workload_record(input_tokens, output_tokens, concurrent_requests), dict(OVERHEADS))
