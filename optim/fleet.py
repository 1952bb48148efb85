"""Fleet files: a swarm described as people know it (GPUs, cities, clients) becomes an instance.

A fleet file (YAML, JSON or CSV) names each group of servers by GPU profile, count and place (a
shipped city, or latitude/longitude), each client by place and arrival rate, and the model and
workload. :func:`fleet_instance` turns it into a validated :class:`~optim.instance.Instance`:

- **RTTs** come from the shipped WonderProxy matrix (:mod:`optim.generators.geo`). A place given
  by coordinates, or a city not in the data given with coordinates, is served by the **nearest
  measured city** by great-circle distance; every such substitution (place, measured city,
  distance in km) is recorded in the instance's provenance. Two endpoints in one measured city
  get ``intra_city_rtt_ms``.
- **Per-block times and memory** come from the GPU profile (the roofline of
  :func:`optim.gpu.block_times`, or :func:`optim.perf.parallelism.parallel_block_times` for a
  multi-GPU server). The fleet file may add profiles of its own (``gpu_profiles``, same fields
  as ``optim gpus`` lists), as may ``--gpu-profiles FILE``.
- **Batching** defaults to ``none``: a real PETALS server runs the steps of concurrent sessions
  one after another (``petals/server/task_pool.py``), unlike the papers' ``ideal`` servers.
- **Bandwidth**: a server or client without ``bandwidth_mbps`` gets the instance's
  ``communication.default_bandwidth_mbps``.

The CSV form has one row per server group or client, with a ``kind`` column (``server`` or
``client``) and the YAML keys as further columns (empty cell: absent); the model and workload then
come from the command line (``optim fleet --model ... --dtype ...``).
"""
from __future__ import annotations

import csv
import difflib
import hashlib
import io
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import InvalidInstanceError, UnknownGPUError
from .gpu import GPUProfile, gpu_profiles
from .instance import Instance, _format_validation_error

FLEET_FORMAT = "optim-fleet/1"
PosFloat = Annotated[float, Field(gt=0, le=1e12, allow_inf_nan=False)]
Dtype = Literal["fp16", "int8", "nf4"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Place(_Strict):
    """Where an endpoint is: a shipped city (``optim fleet --cities`` lists them), coordinates, or both."""

    city: str | None = Field(None, description="a shipped city name, e.g. 'Frankfurt'")
    country: str | None = Field(None, description="disambiguates a city name found in several countries")
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)

    @model_validator(mode="after")
    def _somewhere(self) -> "Place":
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude: give both or neither")
        if self.city is None and self.latitude is None:
            raise ValueError("place: give a city, or latitude and longitude")
        return self


class FleetServer(Place):
    """``count`` identical servers at one place."""

    id: str | None = Field(None, min_length=1, description="server id (with -1, -2, ... when count > 1); "
                                                           "default: '<gpu>-<city>-<k>'")
    gpu: str = Field(description="GPU profile name (optim gpus), or one from gpu_profiles")
    count: int = Field(1, ge=1, le=10_000)
    gpu_count: int = Field(1, ge=1, le=64, description="GPUs per server, run as one tensor-parallel group")
    tp_degree: int | None = Field(None, ge=1, le=64)
    interconnect: Literal["nvlink", "pcie"] = "pcie"
    bandwidth_mbps: PosFloat | None = None
    batching: Literal["ideal", "none", "continuous"] = "none"
    dtype: Dtype | None = None
    dtypes: list[Dtype] | None = None


class FleetClient(Place):
    id: str | None = Field(None, min_length=1)
    arrival_rate_per_s: float = Field(ge=0, le=1e6, allow_inf_nan=False, description="lambda_c, requests/s")
    bandwidth_mbps: PosFloat | None = None


class FleetModel(_Strict):
    card: str = Field(description="a shipped model card (optim models)")
    dtype: Dtype = "nf4"
    dtypes: list[Dtype] | None = None
    quality_penalty_ms_per_block_per_token: dict[Dtype, float] | None = None


class FleetWorkload(_Strict):
    input_tokens_mean: float = Field(2000, ge=1, le=1e7)
    output_tokens_mean: float = Field(20, ge=1, le=1e7)
    input_tokens_max: int | None = Field(None, ge=1, le=10_000_000)
    output_tokens_max: int | None = Field(None, ge=1, le=10_000_000)
    concurrent_requests: int = Field(16, ge=1, le=1_000_000)
    target_load: float = Field(0.7, gt=0, lt=1)


class Fleet(_Strict):
    """A fleet file (``format: optim-fleet/1``)."""

    format: Literal["optim-fleet/1"] = FLEET_FORMAT
    name: str = "fleet"
    description: str = ""
    model: FleetModel
    workload: FleetWorkload = Field(default_factory=FleetWorkload)
    servers: list[FleetServer] = Field(min_length=1, max_length=10_000)
    clients: list[FleetClient] = Field(min_length=1, max_length=1_000)
    gpu_profiles: list[GPUProfile] = Field(default_factory=list, description="profiles beyond the shipped ones")
    hop_overhead_ms: float = Field(18.0, ge=0, le=1e6, description="serialisation overhead per hop (PETALS: 18)")
    intra_city_rtt_ms: float = Field(1.0, ge=0, le=1e6)


# ---------------------------------------------------------------------------------------------- reading

def read_fleet(path: str | Path, *, overrides: dict[str, Any] | None = None) -> tuple[Fleet, str]:
    """Read and validate a fleet file.

    Parameters
    ----------
    path : str or Path
        ``.yaml``/``.yml``/``.json`` (a :class:`Fleet` document) or ``.csv`` (one row per server
        group or client, ``kind`` column ``server``/``client``).
    overrides : dict, optional
        Top-level fields to set (the CLI's ``--model``, ``--dtype``, workload options); a CSV
        fleet takes its model and workload only from here.

    Returns
    -------
    fleet : Fleet
    sha256 : str
        Of the file's bytes, for the provenance.

    Raises
    ------
    InvalidInstanceError
        Unreadable or malformed file; every bad field named by its path (``servers[2].gpu``, or
        ``line 4`` in a CSV) with the reason and the value.
    """
    from .instance import decode_text, read_text_file
    from .io import read_yaml

    p = Path(path)
    raw = read_text_file(p, "fleet file")
    digest = hashlib.sha256(raw).hexdigest()
    lines: dict[str, int] = {}
    kinds: list[str] = []
    if p.suffix.lower() == ".csv":
        data, lines, kinds = _csv_fleet(decode_text(raw, str(p)), str(p))
    else:
        data = read_yaml(p, "fleet file")
        if not isinstance(data, dict):
            return fleet_from_dict(data, str(p)), digest
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key in ("card", "dtype"):
            data.setdefault("model", {})
            if isinstance(data["model"], dict):
                data["model"][key] = value
        elif key in FleetWorkload.model_fields:
            data.setdefault("workload", {})
            if isinstance(data["workload"], dict):
                data["workload"][key] = value
        else:
            data[key] = value
    return fleet_from_dict(data, str(p), lines, kinds), digest


def fleet_from_dict(data: Any, source: str = "fleet", lines: dict[str, int] | None = None,
                    problems: list[str] | None = None) -> Fleet:
    """Validate parsed fleet data.

    Parameters
    ----------
    data : dict
    source : str
        Named first in errors.
    lines : dict, optional
        ``"servers[i]"`` -> line number, for a CSV fleet: errors then name the line.
    problems : list of str, optional
        Problems found before (a CSV row of unknown kind), reported with the others.

    Raises
    ------
    InvalidInstanceError
        Every bad field, by its path, with the reason and the value.
    """
    if not isinstance(data, dict):
        raise InvalidInstanceError(f"fleet: a {type(data).__name__}; expected a mapping with model, servers and "
                                   "clients", source)
    if "format" in data and data["format"] != FLEET_FORMAT:
        raise InvalidInstanceError(f"format: {data['format']!r}; expected {FLEET_FORMAT!r}", source)
    before = list(problems or [])
    try:
        fleet = Fleet.model_validate(data)
    except ValidationError as err:
        found = _format_validation_error(err)
        if lines:
            found = [re.sub(r"^(servers|clients)\[(\d+)\]", lambda m: f"line {lines[f'{m[1]}[{m[2]}]']}", q)
                     for q in found]
        found = before + [q.replace("instance:", "fleet:", 1) for q in found]
        if lines:  # a CSV's problems in the order of its lines
            found.sort(key=lambda q: int(m[1]) if (m := re.match(r"line (\d+)", q)) else 0)
        raise InvalidInstanceError(found, source) from None
    if before:
        raise InvalidInstanceError(before, source)
    return fleet


def _csv_fleet(text: str, source: str) -> tuple[dict, dict[str, int], list[str]]:
    """A CSV fleet as the YAML one's mapping, the line of each row, and the rows of unknown kind."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "kind" not in [f.strip() for f in reader.fieldnames]:
        raise InvalidInstanceError("header: no 'kind' column; expected kind,gpu,count,city,... with kind = server "
                                   "or client", source)
    data: dict[str, Any] = {"servers": [], "clients": [], "name": Path(source).stem}
    lines: dict[str, int] = {}
    kinds: list[str] = []
    for row in reader:
        rec = {k.strip(): v.strip() for k, v in row.items() if k is not None and v is not None and v.strip() != ""}
        if not rec:
            continue
        kind = rec.pop("kind", "")
        line = reader.line_num
        if kind not in ("server", "client"):
            kinds.append(f"line {line}: kind {kind!r}; expected server or client")
            continue
        if "dtypes" in rec:
            rec["dtypes"] = [d.strip() for d in rec["dtypes"].split(";")]
        group = data["servers" if kind == "server" else "clients"]
        lines[f"{'servers' if kind == 'server' else 'clients'}[{len(group)}]"] = line
        group.append(rec)
    return data, lines, kinds


# --------------------------------------------------------------------------------------------- building

def resolve_place(place: Place) -> tuple[int, dict | None]:
    """The shipped city serving ``place``, and the substitution made, if any.

    Returns
    -------
    index : int
        Row in :func:`optim.generators.geo.city_table`.
    substitution : dict or None
        ``{"place", "measured_city", "distance_km"}`` when the place is not itself a shipped city.

    Raises
    ------
    ValueError
        An unknown city without coordinates (with the closest names), or a city name found in
        several countries without ``country``.
    """
    from .generators.geo import city_table, great_circle_km

    cities = city_table()
    if place.city is not None:
        hits = [i for i, c in enumerate(cities) if c["city"].casefold() == place.city.casefold()
                and (place.country is None or c["country"].casefold() == place.country.casefold())]
        if len(hits) == 1:
            return hits[0], None
        if len(hits) > 1:
            raise ValueError(f"city: {place.city!r} is in several countries "
                             f"({', '.join(sorted(cities[i]['country'] for i in hits))}); add country")
        if place.latitude is None:
            close = difflib.get_close_matches(place.city, sorted({c["city"] for c in cities}), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            where = f" in {place.country}" if place.country else ""
            raise ValueError(f"city: {place.city!r}{where} is not a measured city{hint} Give latitude and longitude "
                             "to use the nearest measured city")
    lat = np.array([c["latitude"] for c in cities])
    lon = np.array([c["longitude"] for c in cities])
    d = great_circle_km(place.latitude, place.longitude, lat, lon)
    k = int(np.argmin(d))
    label = place.city or f"({place.latitude:g}, {place.longitude:g})"
    return k, {"place": label, "latitude": place.latitude, "longitude": place.longitude,
               "measured_city": f"{cities[k]['city']}, {cities[k]['country']}", "distance_km": round(float(d[k]), 1)}


def fleet_instance(fleet: Fleet, *, source: str = "fleet", sha256: str | None = None,
                   extra_profiles: list[GPUProfile] | None = None) -> Instance:
    """Build the instance a fleet describes.

    Parameters
    ----------
    fleet : Fleet
    source : str
        Where the fleet came from (recorded in the provenance, named in errors).
    sha256 : str, optional
        Of the fleet file.
    extra_profiles : list of GPUProfile, optional
        Profiles beyond the shipped ones and the fleet's own (``--gpu-profiles``).

    Returns
    -------
    Instance
        Validated; the provenance records the fleet file, the RTT data and processing, every
        place substituted by its nearest measured city and every user GPU profile.

    Raises
    ------
    InvalidInstanceError
        An unknown GPU profile, model card or city, a duplicate id, a TP degree that does not
        divide the GPU count, or an instance that fails validation; each names the fleet field.

    Examples
    --------
    >>> from optim.fleet import Fleet, fleet_instance
    >>> f = Fleet.model_validate({"model": {"card": "llama-2-70b", "dtype": "nf4"},
    ...     "servers": [{"gpu": "A100-80GB", "city": "Frankfurt"}, {"gpu": "L4", "count": 2, "city": "Paris"}],
    ...     "clients": [{"city": "London", "arrival_rate_per_s": 0.1}]})
    >>> inst = fleet_instance(f)
    >>> [s.id for s in inst.servers], inst.provenance["nearest_measured_city"]
    (['A100-80GB-frankfurt', 'L4-paris-1', 'L4-paris-2'], [])
    """
    from .generators.common import assemble, server_record, workload_record
    from .generators.geo import city_table, endpoint_rtt_ms

    profiles = dict(gpu_profiles())
    user = {p.name: p for p in [*fleet.gpu_profiles, *(extra_profiles or [])]}
    profiles.update(user)
    cities = city_table()
    problems: list[str] = []
    where: list[int] = []
    substitutions: list[dict] = []
    servers: list[dict] = []
    clients: list[dict] = []

    def place(path: str, p: Place) -> int | None:
        try:
            k, sub = resolve_place(p)
        except ValueError as err:
            problems.append(f"{path}.{err}")
            return None
        if sub:
            substitutions.append({"endpoint": path, **sub})
        return k

    from .errors import UnknownModelError
    from .modelcard import load_model_card

    try:
        load_model_card(fleet.model.card)
    except UnknownModelError as err:
        raise InvalidInstanceError([f"model.card: {q.removeprefix('card: ')}" for q in err.problems], source) from None
    for i, c in enumerate(fleet.clients):
        k = place(f"clients[{i}]", c)
        cid = c.id or f"c{i}"
        city = cities[k]["city"] if k is not None else c.city
        clients.append({k2: v for k2, v in {
            "id": cid, "city": c.city or city, "latitude": c.latitude if c.latitude is not None else _coord(k, "latitude"),
            "longitude": c.longitude if c.longitude is not None else _coord(k, "longitude"),
            "arrival_rate_per_s": c.arrival_rate_per_s, "bandwidth_mbps": c.bandwidth_mbps}.items() if v is not None})
        where.append(k if k is not None else 0)
    for i, g in enumerate(fleet.servers):
        path = f"servers[{i}]"
        k = place(path, g)
        if g.gpu not in profiles:
            close = difflib.get_close_matches(g.gpu, list(profiles), n=3, cutoff=0.5)
            problems.append(f"{path}.gpu: unknown GPU profile {g.gpu!r}"
                            + (f"; did you mean {', '.join(map(repr, close))}?" if close else "")
                            + ("" if close else ".") + " Add it under gpu_profiles (fields as in `optim gpus`)")
            continue
        if g.tp_degree is not None and g.gpu_count % g.tp_degree:
            problems.append(f"{path}.tp_degree: {g.tp_degree} does not divide gpu_count {g.gpu_count}")
            continue
        if k is None:
            continue
        city = cities[k]["city"]
        base = g.id or f"{g.gpu}-{_slug(g.city or city)}"
        try:
            recs = _server_records(g, profiles[g.gpu], fleet.model, base, city, k, cities)
        except (UnknownGPUError, InvalidInstanceError) as err:
            problems.append(f"{path}.gpu: {getattr(err, 'problems', [str(err)])[0].removeprefix('gpu: ')}")
            continue
        servers.extend(recs)
        where.extend([k] * len(recs))
    seen: dict[str, int] = {}
    for r in clients + servers:
        seen[r["id"]] = seen.get(r["id"], 0) + 1
    problems += [f"id: {i!r} is used by {n} endpoints; give distinct ids" for i, n in seen.items() if n > 1]
    if problems:
        raise InvalidInstanceError(problems, source)
    rtt, how = endpoint_rtt_ms(np.array(where), fleet.intra_city_rtt_ms)
    w = fleet.workload
    gpus = {}
    for s in fleet.servers:
        gpus[s.gpu] = gpus.get(s.gpu, 0) + s.count
    description = fleet.description or (
        f"fleet {fleet.name}: {', '.join(f'{n} x {g}' for g, n in gpus.items())}; {fleet.model.card} "
        f"({fleet.model.dtype}); RTTs measured between real cities")
    provenance = {
        "generator": "optim.fleet", "fleet_file": source, **({"fleet_sha256": sha256} if sha256 else {}),
        "rtt_source": "WonderProxy pings 2020-07-19/20 (optim/data/PROVENANCE.md)",
        "rtt_processing": {**how, "intra_city_rtt_ms": fleet.intra_city_rtt_ms},
        "nearest_measured_city": substitutions,
        "gpu_profiles": {n: p.source for n, p in user.items()},
        "times": "per-block times and memory from the GPU profiles (optim.gpu roofline)",
    }
    model = {"card": fleet.model.card, "dtype": fleet.model.dtype}
    if fleet.model.dtypes:
        model["dtypes"] = fleet.model.dtypes
    if fleet.model.quality_penalty_ms_per_block_per_token:
        model["quality_penalty_ms_per_block_per_token"] = fleet.model.quality_penalty_ms_per_block_per_token
    ids = [c["id"] for c in clients] + [s["id"] for s in servers]
    return assemble(
        fleet.name, description, provenance, model, servers, clients, {"ids": ids, "rtt_ms": np.round(rtt, 3).tolist()},
        workload_record(w.input_tokens_mean, w.output_tokens_mean, w.concurrent_requests,
                        input_tokens_max=w.input_tokens_max, output_tokens_max=w.output_tokens_max,
                        target_load=w.target_load),
        {"decode_overhead_ms": fleet.hop_overhead_ms, "prefill_overhead_ms": fleet.hop_overhead_ms,
         "prefill_overhead_ms_per_token": 0.0, "chain_overhead_ms": fleet.hop_overhead_ms})


def _coord(k: int | None, key: str) -> float | None:
    from .generators.geo import city_table

    return None if k is None else city_table()[k][key]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-") or "site"


def _server_records(g: FleetServer, gpu: GPUProfile, model: FleetModel, base: str, city: str, k: int,
                    cities: list[dict]) -> list[dict]:
    """``g.count`` instance server entries for one fleet group."""
    from .generators.common import server_record
    from .modelcard import load_model_card
    from .perf.parallelism import link_of, parallel_block_times
    from .units import GB, MS

    card = load_model_card(model.card)
    dtype = g.dtype or model.dtype
    rec = server_record(base, gpu, model.card, dtype, city=g.city or city,
                        latitude=g.latitude if g.latitude is not None else cities[k]["latitude"],
                        longitude=g.longitude if g.longitude is not None else cities[k]["longitude"],
                        bandwidth_mbps=g.bandwidth_mbps)
    rec["batching"] = g.batching
    if g.dtype:
        rec["dtype"] = g.dtype
    if g.dtypes:
        rec["dtypes"] = g.dtypes
    if g.gpu_count > 1:
        tp = g.tp_degree or g.gpu_count
        t = parallel_block_times(gpu, card, dtype, tp, link_of(g.interconnect))
        rec.update({"gpu_count": g.gpu_count, "tp_degree": tp, "interconnect": g.interconnect,
                    "memory_gb": round(g.gpu_count * gpu.memory_bytes / GB, 6),
                    "prefill_ms_per_block": round(t.prefill_s / MS, 6),
                    "prefill_ms_per_block_per_token": round(t.prefill_s_per_token / MS, 9),
                    "decode_ms_per_block_per_token": round(t.decode_s_per_token / MS, 6)})
    if g.count == 1:
        return [rec]
    return [{**rec, "id": f"{base}-{n + 1}"} for n in range(g.count)]


def load_gpu_profiles(path: str | Path) -> list[GPUProfile]:
    """GPU profiles from a YAML/JSON file: a list, or a mapping with a ``profiles`` list.

    Raises
    ------
    InvalidInstanceError
        Naming each bad profile field.
    """
    from .io import read_yaml

    data = read_yaml(path, "GPU profile file")
    items = data.get("profiles") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise InvalidInstanceError("profiles: expected a list of GPU profiles", str(path))
    out, problems = [], []
    for i, item in enumerate(items):
        try:
            out.append(GPUProfile.model_validate(item))
        except ValidationError as err:
            problems += [f"profiles[{i}].{q}" for q in _format_validation_error(err)]
    if problems:
        raise InvalidInstanceError(problems, str(path))
    return out
