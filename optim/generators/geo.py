"""Geographic instances: servers and clients in real cities, with measured RTTs.

RTTs come from the WonderProxy ping data set shipped in ``optim/data`` (see its PROVENANCE.md).
How the measured matrix is made usable, recorded in each instance's provenance:

- **Asymmetry**: ping RTTs are round trips measured from either end; the two directions differ
  by 0.08% at the median (25% at the 99th percentile). The instance uses the mean of both
  directions where both were measured, the one measurement where only one was.
- **Missing pairs** (28 of 30,135 city pairs unmeasured both ways): imputed from the
  great-circle distance with a least-squares line ``rtt = a + b d`` fitted on all measured pairs.
- **Same city**: two distinct endpoints in one city get ``intra_city_rtt_ms`` (default 1 ms),
  not the data's loopback self-ping.
- The triangle inequality is not enforced: measured RTTs violate it and the models do not need it.
"""
from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources

import numpy as np

from ..errors import InvalidOptionError
from ..instance import Instance
from .common import assemble, check_positive, check_sizes, gpu_mix, server_record, workload_record

EARTH_RADIUS_KM = 6371.0
#: a square RTT matrix over more servers than this takes gigabytes as JSON: use ``random`` (client x server RTTs)
MAX_GEO_SERVERS = 3_000


@lru_cache(maxsize=1)
def city_table() -> list[dict]:
    """The shipped cities: id, city, country, region, latitude, longitude."""
    with resources.files("optim.data").joinpath("wonderproxy_cities.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["id"] = int(r["id"])
        r["latitude"], r["longitude"] = float(r["latitude"]), float(r["longitude"])
    return rows


def great_circle_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Haversine distance in km (broadcasts over arrays)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(h))


@lru_cache(maxsize=1)
def city_rtt_ms() -> tuple[np.ndarray, dict]:
    """Symmetrised, completed city x city RTT matrix (ms) in ``city_table()`` order, and how it was made."""
    with resources.files("optim.data").joinpath("wonderproxy_rtt.npz").open("rb") as f:
        data = np.load(f)
        raw = data["avg_rtt_ms"].astype(float)
    sym = _nanmean2(raw, raw.T)
    cities = city_table()
    lat = np.array([c["latitude"] for c in cities])
    lon = np.array([c["longitude"] for c in cities])
    dist = great_circle_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    off = ~np.eye(len(cities), dtype=bool)
    known = off & ~np.isnan(sym)
    b, a = np.polyfit(dist[known], sym[known], 1)
    missing = off & np.isnan(sym)
    sym[missing] = a + b * dist[missing]
    np.fill_diagonal(sym, 0.0)
    one_sided = off & (np.isnan(raw) ^ np.isnan(raw.T))
    how = {"symmetrised": "mean of both directions where both measured, else the one measured",
           "one_sided_pairs": int(one_sided.sum() // 2), "imputed_pairs": int(missing.sum() // 2),
           "imputation": f"rtt_ms = {a:.3f} + {b:.5f} x great-circle km (least squares on measured pairs)"}
    return sym, how


def endpoint_rtt_ms(cities: np.ndarray, intra_city_rtt_ms: float = 1.0) -> tuple[np.ndarray, dict]:
    """RTT matrix (ms) between endpoints placed in shipped cities.

    Parameters
    ----------
    cities : ndarray of int, shape (n,)
        Row of each endpoint in :func:`city_table`; several endpoints may share a city.
    intra_city_rtt_ms : float
        RTT between two distinct endpoints in one city (the data's self-ping is a loopback).

    Returns
    -------
    rtt : ndarray, shape (n, n)
        Symmetric, zero diagonal.
    how : dict
        How the measured matrix was symmetrised and completed (:func:`city_rtt_ms`).
    """
    sym, how = city_rtt_ms()
    cities = np.asarray(cities, dtype=int)
    rtt = sym[np.ix_(cities, cities)]
    same = (cities[:, None] == cities[None, :]) & ~np.eye(cities.size, dtype=bool)
    rtt[same] = intra_city_rtt_ms
    return rtt, how


def _nanmean2(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    s = np.where(np.isnan(x), 0, x) + np.where(np.isnan(y), 0, y)
    n = (~np.isnan(x)).astype(int) + (~np.isnan(y)).astype(int)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def regions() -> list[str]:
    """Region names of the shipped cities (``world`` selects them all)."""
    return sorted({c["region"] for c in city_table()})


def geo_instance(num_servers: int = 20, num_clients: int = 1, *, region: str | None = "europe",
                 model: str = "llama-2-70b", dtype: str = "nf4", eta: float = 0.2,
                 high_gpu: str = "A100-80GB", low_gpu: str = "L4", arrival_rate: float = 0.2,
                 input_tokens: float = 2000, output_tokens: float = 20, input_tokens_max: int | None = 2028,
                 output_tokens_max: int | None = None, concurrent_requests: int = 16, target_load: float = 0.7,
                 hop_overhead_ms: float = 18.0, intra_city_rtt_ms: float = 1.0, bandwidth_mbps: float = 1000.0,
                 seed: int = 0, name: str | None = None) -> Instance:
    """Servers and clients in real cities with measured WonderProxy RTTs.

    Parameters
    ----------
    num_servers, num_clients : int
        Cities are drawn without replacement within each group while there are enough, with
        replacement beyond.
    region : str or None
        ``europe``, ``asia``, ``north-america``, ``south-america``, ``africa``, ``oceania``, or
        None / ``world`` for all 246 cities.
    model, dtype : str
        Model card name and weight dtype.
    eta : float
        Fraction of high-performance servers (``high_gpu``); the rest are ``low_gpu``.
    arrival_rate : float
        Total lambda, requests/s, split equally among clients.
    input_tokens, output_tokens : float
        Mean lengths (defaults: the server-chain paper's 2000 / 20); maxima default to the means
        rounded up, with input max 2028 so sequences reach 2048 tokens.
    concurrent_requests : int
        |R|, sessions placements reserve cache for.
    hop_overhead_ms : float
        Serialisation overhead per hop (PETALS' 18 ms), added to decode, prefill and chain hops.
    seed : int

    Returns
    -------
    Instance
        Provenance records the data set, the cities and how RTTs were symmetrised and imputed.

    Raises
    ------
    InvalidOptionError
        Unknown region, non-positive counts or rates, eta outside [0, 1], sizes beyond
        ``MAX_GEO_SERVERS`` servers or 1,000 clients, a seed outside 0 .. 2^32 - 1.

    Examples
    --------
    >>> from optim.generators import geo_instance
    >>> inst = geo_instance(num_servers=5, region="europe", seed=3)
    >>> inst.num_servers, inst.model.name, inst.servers[0].gpu in ("A100-80GB", "L4")
    (5, 'LLaMA-2-70B', True)
    """
    check_sizes(num_servers, num_clients, concurrent_requests, seed, max_servers=MAX_GEO_SERVERS, max_clients=1_000)
    check_positive("arrival_rate", arrival_rate)
    cities = city_table()
    if region in (None, "world"):
        pool = np.arange(len(cities))
    elif region in regions():
        pool = np.array([i for i, c in enumerate(cities) if c["region"] == region])
    else:
        raise InvalidOptionError(f"region: {region!r}; expected one of {', '.join(regions())} or world")
    rng = np.random.default_rng(seed)
    srv_city = rng.choice(pool, num_servers, replace=num_servers > pool.size)
    cli_city = rng.choice(pool, num_clients, replace=num_clients > pool.size)
    high = gpu_mix(num_servers, eta, rng)
    servers = [server_record(f"s{j:0{len(str(num_servers - 1))}d}", high_gpu if high[j] else low_gpu, model, dtype,
                             city=cities[k]["city"], latitude=cities[k]["latitude"], longitude=cities[k]["longitude"],
                             bandwidth_mbps=bandwidth_mbps)
               for j, k in enumerate(srv_city)]
    clients = [{"id": f"c{i}", "city": cities[k]["city"], "latitude": cities[k]["latitude"],
                "longitude": cities[k]["longitude"], "arrival_rate_per_s": arrival_rate / num_clients}
               for i, k in enumerate(cli_city)]
    where = np.concatenate([cli_city, srv_city])
    rtt, how = endpoint_rtt_ms(where, intra_city_rtt_ms)
    ids = [c["id"] for c in clients] + [s["id"] for s in servers]
    label = region or "world"
    name = name or f"geo-{label}-{num_servers}"
    provenance = {
        "generator": "optim.generators.geo", "seed": seed,
        "command": (f"optim generate geo --servers {num_servers} --clients {num_clients} --region {label} "
                    f"--model {model} --dtype {dtype} --eta {eta} --high-gpu {high_gpu} --low-gpu {low_gpu} "
                    f"--arrival-rate {arrival_rate} --concurrent-requests {concurrent_requests} --seed {seed}"),
        "rtt_source": "WonderProxy pings 2020-07-19/20 (optim/data/PROVENANCE.md)",
        "rtt_processing": {**how, "intra_city_rtt_ms": intra_city_rtt_ms},
        "cities": sorted({cities[k]["city"] for k in where}),
    }
    return assemble(
        name, f"{num_servers} servers and {num_clients} clients in real {label} cities, measured RTTs, "
        f"{model} ({dtype}), {int(high.sum())} x {high_gpu} + {int((~high).sum())} x {low_gpu}",
        provenance, {"card": model, "dtype": dtype}, servers, clients,
        {"ids": ids, "rtt_ms": np.round(rtt, 3).tolist()},
        workload_record(input_tokens, output_tokens, concurrent_requests, input_tokens_max=input_tokens_max,
                        output_tokens_max=output_tokens_max, target_load=target_load),
        {"decode_overhead_ms": hop_overhead_ms, "prefill_overhead_ms": hop_overhead_ms,
         "prefill_overhead_ms_per_token": 0.0, "chain_overhead_ms": hop_overhead_ms})
