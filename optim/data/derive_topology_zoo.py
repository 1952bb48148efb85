"""Derive ``topology_zoo.json`` (the BPRR paper's scattered-scenario networks) from the Internet
Topology Zoo GraphML files.

Usage: ``python optim/data/derive_topology_zoo.py ../shared/data/topology_zoo``

For each of AboveNet (``Abvt``), BellCanada and GTS Central Europe (``GtsCe``) it keeps the nodes
(id, label, latitude, longitude) and the undirected links with a delay in milliseconds: the
great-circle length of the link divided by 600 km per ms, the rule that reproduces the Repetita
delay ranges the BPRR paper (arXiv 2512.21884, Sec. 7) uses (shared/data/topology_zoo/README.md).
Nodes without coordinates are placed at the mean position of their neighbours that have one
(repeated until every node has one); they are flagged ``imputed``. Parallel links collapse into
one. The source files' sha256 and the rule are recorded in the output and in ``PROVENANCE.md``.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import sys
from pathlib import Path

import networkx as nx
import numpy as np

NETWORKS = {"abovenet": "Abvt.graphml", "bellcanada": "Bellcanada.graphml", "gts-ce": "GtsCe.graphml"}
KM_PER_MS = 600.0
EARTH_RADIUS_KM = 6371.0


def great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(np.radians, (*a, *b))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return float(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(min(h, 1.0))))


def derive(path: Path) -> dict:
    g = nx.Graph(nx.read_graphml(path))  # undirected, parallel links collapsed
    pos = {n: (float(d["Latitude"]), float(d["Longitude"])) for n, d in g.nodes(data=True)
           if "Latitude" in d and "Longitude" in d}
    imputed = [n for n in g.nodes if n not in pos]
    missing = list(imputed)
    while missing:
        progress = False
        for n in list(missing):
            known = [pos[m] for m in g.neighbors(n) if m in pos]
            if known:
                pos[n] = (float(np.mean([k[0] for k in known])), float(np.mean([k[1] for k in known])))
                missing.remove(n)
                progress = True
        if not progress:
            raise SystemExit(f"{path.name}: nodes {missing} have no located neighbour")
    nodes = [{"id": str(n), "label": str(g.nodes[n].get("label", n)), "latitude": round(pos[n][0], 5),
              "longitude": round(pos[n][1], 5), "imputed": n in imputed} for n in g.nodes]
    edges = [{"u": str(u), "v": str(v), "delay_ms": round(great_circle_km(pos[u], pos[v]) / KM_PER_MS, 6)}
             for u, v in g.edges]
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "nodes": nodes,
            "edges": edges}


def main(src: Path) -> None:
    out = {"source": "Internet Topology Zoo (CC BY 4.0; Knight et al., IEEE JSAC 29(9), 2011), shared/data/topology_zoo",
           "delay_rule": f"great-circle link length / {KM_PER_MS:g} km per ms; nodes without coordinates at the "
                         "mean position of their located neighbours",
           "networks": {name: derive(src / f) for name, f in NETWORKS.items()}}
    here = Path(__file__).resolve().parent
    (here / "topology_zoo.json").write_text(json.dumps(out, indent=1) + "\n")
    lines = ["", "# Provenance of the shipped network topologies", "",
             "- **Source**: the Internet Topology Zoo long-term store (GitHub `mroughan/InternetTopologyZoo`, `graphml/`),",
             "  CC BY 4.0, copied to `shared/data/topology_zoo/`. Cite: S. Knight, H. X. Nguyen, N. Falkner, R. Bowden,",
             "  M. Roughan, \"The Internet Topology Zoo\", IEEE JSAC 29(9), 2011.",
             "- **Inputs**: " + "; ".join(f"`{v['file']}` (sha256 {v['sha256']}, {len(v['nodes'])} nodes, "
                                         f"{len(v['edges'])} links)" for v in out["networks"].values()) + ".",
             f"- **Derivation**: link delay = {out['delay_rule']} (the rule that reproduces the Repetita delay ranges",
             "  of the BPRR paper, arXiv 2512.21884, Sec. 7); parallel links collapsed; imputed nodes flagged.",
             "- **Derived file**: `topology_zoo.json`; `optim.generators.topology` builds instances from it.",
             f"- **Made by**: `python optim/data/derive_topology_zoo.py {src}` on {datetime.date.today().isoformat()}."]
    prov = here / "PROVENANCE.md"
    text = prov.read_text()
    if "# Provenance of the shipped network topologies" in text:
        text = text[: text.index("\n# Provenance of the shipped network topologies")]
    prov.write_text(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n")
    for name, v in out["networks"].items():
        d = [e["delay_ms"] for e in v["edges"]]
        print(f"{name}: {len(v['nodes'])} nodes ({sum(n['imputed'] for n in v['nodes'])} imputed), "
              f"{len(v['edges'])} links, delay {min(d):.3f}-{max(d):.3f} ms")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/topology_zoo"))
