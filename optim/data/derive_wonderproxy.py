"""Derive the compact WonderProxy RTT set shipped in optim/data from the raw files.

Usage: ``python optim/data/derive_wonderproxy.py ../shared/data/wonderproxy_pings``

Reads ``servers-2020-07-19.csv`` (city table) and ``pings-2020-07-19-2020-07-20-grouped.csv``
(per ordered pair: min, avg, max, mdev RTT in ms) and writes, next to this script:

- ``wonderproxy_cities.csv``: id, city, country, region, latitude, longitude for the 246 cities
  with coordinates (region from an explicit country table below; WonderProxy's own continent
  code 3 lumps Europe and Asia together);
- ``wonderproxy_rtt.npz``: ``ids`` (246,) and ``avg_rtt_ms`` (246, 246) float32, the *directed*
  average RTT, NaN where a pair was not measured, rows/cols in ``ids`` order;
- ``PROVENANCE.md``: source, selection, date and the checksums of the inputs.

Nothing is imputed or symmetrised here: the generators do that and say how.
"""
from __future__ import annotations

import csv
import datetime
import hashlib
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SERVERS = "servers-2020-07-19.csv"
PINGS = "pings-2020-07-19-2020-07-20-grouped.csv"

REGIONS = {
    "europe": ["Albania", "Austria", "Belgium", "Bulgaria", "Croatia", "Cyprus", "Czech Republic", "Denmark",
               "Estonia", "Finland", "France", "Germany", "Greece", "Hungary", "Iceland", "Ireland", "Isle of Man",
               "Italy", "Kosovo", "Latvia", "Lithuania", "Luxembourg", "Malta", "Moldova", "Netherlands", "Norway",
               "Poland", "Portugal", "Romania", "Russia", "Serbia", "Slovakia", "Slovenia", "Spain", "Sweden",
               "Switzerland", "Turkey", "Ukraine", "United Kingdom"],
    "asia": ["Bangladesh", "Cambodia", "China", "Georgia", "Hong Kong", "India", "Indonesia", "Israel", "Japan",
             "Kazakhstan", "Lebanon", "Malaysia", "Pakistan", "Philippines", "Saudi Arabia", "Singapore",
             "South Korea", "Taiwan", "Thailand", "United Arab Emirates", "Vietnam"],
}
CONTINENT_CODE = {"1": "north-america", "2": "south-america", "4": "oceania", "5": "africa"}


def region_of(country: str, continent: str, longitude: float) -> str:
    """optim's region of a city: the country table above, else WonderProxy's continent code."""
    if country == "Russia" and longitude > 60:  # east of the Urals
        return "asia"
    for region, countries in REGIONS.items():
        if country in countries:
            return region
    if continent in CONTINENT_CODE:
        return CONTINENT_CODE[continent]
    raise ValueError(f"no region for {country!r} (continent code {continent})")


def sha256(p: Path) -> str:
    """Hex SHA-256 of a file, recorded in the provenance."""
    return hashlib.sha256(p.read_bytes()).hexdigest()


def main(src: Path) -> None:
    """Derive the city table and RTT matrix from the raw files in ``src``."""
    cities = []
    with open(src / SERVERS, newline="") as f:
        for row in csv.DictReader(f):
            if not row["latitude"] or not row["longitude"]:
                continue
            cities.append({"id": int(row["id"]), "city": row["title"], "country": row["country"],
                           "region": region_of(row["country"], row["continent"], float(row["longitude"])),
                           "latitude": float(row["latitude"]), "longitude": float(row["longitude"])})
    cities.sort(key=lambda c: c["id"])
    index = {c["id"]: i for i, c in enumerate(cities)}
    n = len(cities)
    rtt = np.full((n, n), np.nan, dtype=np.float32)
    rows = kept = 0
    with open(src / PINGS, newline="") as f:
        for row in csv.DictReader(f):
            rows += 1
            a, b = index.get(int(row["source"])), index.get(int(row["destination"]))
            if a is not None and b is not None:
                rtt[a, b] = float(row["avg"])
                kept += 1
    with open(HERE / "wonderproxy_cities.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(cities[0]))
        w.writeheader()
        w.writerows(cities)
    np.savez_compressed(HERE / "wonderproxy_rtt.npz", ids=np.array([c["id"] for c in cities]), avg_rtt_ms=rtt)
    off = ~np.eye(n, dtype=bool)
    missing = int(np.isnan(rtt[off]).sum())
    both = int((np.isnan(rtt) & np.isnan(rtt.T))[off].sum() // 2)
    (HERE / "PROVENANCE.md").write_text(f"""# Provenance of the shipped RTT data

- **Source**: WonderProxy, "A day in the life of the internet", ICMP pings between WonderProxy servers
  on 2020-07-19/20, as mirrored in the public repository sm86/geo-latency-data and copied to
  `shared/data/wonderproxy_pings/`. Cite WonderProxy when publishing results.
- **Inputs**: `{SERVERS}` (sha256 {sha256(src / SERVERS)}),
  `{PINGS}` (sha256 {sha256(src / PINGS)}, {rows} rows).
- **Selection**: the {n} servers (cities) with coordinates; {kept} directed pairs among them kept;
  the `avg` column (mean RTT, ms) only.
- **Derived files**: `wonderproxy_cities.csv` (id, city, country, region, latitude, longitude; region
  from the country table in `derive_wonderproxy.py`, Russia east of 60 E counted as Asia) and `wonderproxy_rtt.npz` (`ids`, directed
  `avg_rtt_ms`, float32, NaN = not measured: {missing} of {n * (n - 1)} off-diagonal directed pairs,
  {both} unordered pairs missing in both directions).
- **Not done here**: symmetrisation and imputation; `optim.generators.geo` does both and records how
  in each generated instance's provenance.
- **Made by**: `python optim/data/derive_wonderproxy.py {src}` on {datetime.date.today().isoformat()}.
""")
    print(f"{n} cities, {kept} pairs, {missing} directed pairs missing, {both} missing both ways")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/wonderproxy_pings"))
