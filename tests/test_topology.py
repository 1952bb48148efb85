"""The scattered scenario's networks (Topology Zoo) and instances on them."""
import numpy as np
import pytest

from optim import evaluate, solve
from optim.generators import topology_instance
from optim.generators.topology import node_rtt_ms, topology_data

#: the Repetita link-delay ranges the BPRR paper states (arXiv 2512.21884, Sec. 7), ms
PAPER_RANGES = {"abovenet": (0.1, 13.8), "bellcanada": (0.078, 6.16), "gts-ce": (0.005, 1.081)}


@pytest.mark.parametrize("network", sorted(PAPER_RANGES))
def test_link_delays_reproduce_the_papers_ranges(network):
    d = np.array([e["delay_ms"] for e in topology_data()["networks"][network]["edges"]])
    lo, hi = PAPER_RANGES[network]
    assert d.max() == pytest.approx(hi, rel=0.01)
    assert d.min() <= lo * 1.01


def test_rtt_is_twice_the_shortest_path_delay():
    import networkx as nx

    net = topology_data()["networks"]["abovenet"]
    g = nx.Graph()
    g.add_weighted_edges_from((e["u"], e["v"], e["delay_ms"]) for e in net["edges"])
    ids, rtt = node_rtt_ms("abovenet")
    for a in range(0, len(ids), 5):
        dist = nx.single_source_dijkstra_path_length(g, ids[a])
        for b in range(len(ids)):
            assert rtt[a, b] == pytest.approx(2 * dist[ids[b]], abs=1e-6)
    assert np.allclose(rtt, rtt.T)


def test_topology_instance_is_solvable_and_recorded():
    inst = topology_instance("bellcanada", seed=2)
    assert inst.num_servers == round(0.4 * 48) and inst.provenance["network"] == "bellcanada"
    assert len(set(inst.provenance["server_nodes"]) | {inst.provenance["client_node"]}) == inst.num_servers + 1
    for solver in ("cg-bprr", "petals"):
        sol = solve(inst, solver)
        assert sol.has_solution and evaluate(inst, sol).feasible
    with pytest.raises(Exception, match="network"):
        topology_instance("arpanet")
    with pytest.raises(Exception, match="num_servers"):
        topology_instance("abovenet", num_servers=23)


def test_scattered_servers_get_the_block_counts_the_paper_reports_for_petals():
    """PETALS' rule on the scattered scenario's servers: 53 BLOOM nf4 blocks on an A100 (84.97 GB)
    and 4 on a MIG (9.1 GB), the counts of the paper's experiment (arXiv 2512.21884, Sec. 7); the
    authors' single-run driver's 8.2 GB MIG holds 3, and its command is recorded."""
    from optim.solvers.petals import petals_block_counts

    inst = topology_instance("gts-ce", num_servers=9, seed=0)
    m, _ = petals_block_counts(inst)
    a100 = np.array([s.gpu.startswith("A100-80GB") for s in inst.servers])
    assert set(m[a100]) == {53} and set(m[~a100]) == {4}
    driver = topology_instance("gts-ce", num_servers=9, seed=0, mig_memory_gb=8.2)
    assert set(petals_block_counts(driver)[0][~a100]) == {3}
    assert driver.provenance["command"].endswith("--mig-memory-gb 8.2")
    with pytest.raises(Exception, match="mig_memory_gb"):
        topology_instance("gts-ce", num_servers=9, mig_memory_gb=-1)
