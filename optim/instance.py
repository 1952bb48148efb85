"""The instance: model, servers, clients, RTT matrix, workload and communication overheads.

An instance file is JSON with ``"format": "optim-instance/1"``; every field with a unit carries
it in its name (``memory_gb``, ``rtt_ms``). Loading validates types, ranges and cross-field
consistency and raises :class:`~optim.errors.InvalidInstanceError` naming each bad field.
In code, :class:`Instance` also offers SI numpy views (seconds, bytes) for the algorithms.

Notation (Sun, He, Ji, Parag, arXiv 2512.21884, BPRR, Sec. 2): L blocks of
``s_m`` bytes; ``s_c`` bytes of attention (KV) cache per block per session;
``t_cj`` per-token and ``t^I_cj`` per-input communication times between client c and server j;
``tau_j`` decode and ``tau^I_j`` prefill times per block.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import InvalidInstanceError, UnknownModelError
from .modelcard import Dtype, load_model_card
from .units import GB, MBIT_PER_S, MS

INSTANCE_FORMAT = "optim-instance/1"
#: limits far above any real swarm, that keep hostile files from exhausting memory or time
MAX_BLOCKS = 10_000
MAX_SERVERS = 200_000
MAX_CLIENTS = 100_000
MAX_CONCURRENT_REQUESTS = 1_000_000
MAX_TOKENS = 10_000_000

#: every number in an instance is finite and below 1e12 (1e12 ms is 30 years, 1e12 GB a zettabyte):
#: far beyond any real swarm, and small enough that no derived quantity overflows
NonNegFloat = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
PosFloat = Annotated[float, Field(gt=0, le=1e12, allow_inf_nan=False)]
Id = Annotated[str, Field(min_length=1)]


def _plain(value: Any) -> Any:
    """Models inside an update as plain data, so that validation sees every field again."""
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class _Frozen(BaseModel):
    """Immutable, strict about unknown fields, and validated again on every change."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False):  # type: ignore[override]
        """A copy with ``update`` applied, **validated again** (pydantic's own ``model_copy`` skips
        validation, which would let a changed instance keep stale derived arrays or bad values).

        Raises
        ------
        InvalidInstanceError
            The changed model is invalid; the message names the field.
        """
        data = self.model_dump()
        data.update(_plain(update or {}))
        try:
            return type(self).model_validate(data)
        except ValidationError as err:
            raise InvalidInstanceError(_format_validation_error(err)) from None


class ModelSpec(_Frozen):
    """The model served: a shipped card by name, or an inline custom model.

    With ``card`` set, the remaining fields are filled from the card (explicit values win);
    without it, ``num_blocks``, ``block_bytes`` and ``kv_cache_bytes_per_token_per_block`` are
    required.
    """

    card: str | None = Field(None, description="name of a shipped model card, e.g. 'bloom-176b'")
    dtype: Dtype = Field("nf4", description="weight dtype: fp16, int8 or nf4")
    name: str | None = None
    num_blocks: int | None = Field(None, ge=1, le=MAX_BLOCKS, description="transformer blocks L")
    block_bytes: float | None = Field(None, ge=1, le=1e15, allow_inf_nan=False,
                                      description="s_m, bytes of one block's weights")
    kv_cache_bytes_per_token_per_block: float | None = Field(
        None, ge=1, le=1e12, allow_inf_nan=False, description="attention (KV) cache bytes for one token in one block")
    hidden_size: int | None = Field(None, ge=1, le=1_000_000)
    context_tokens: int | None = Field(None, ge=1, le=100_000_000, description=(
        "longest sequence the model takes, prompt plus output, tokens (the card's max_position_embeddings); "
        "a trace request longer than it has its prompt cut to fit; absent: no limit"))
    num_kv_groups: int | None = Field(None, ge=1, le=100_000, description="query heads per KV head (1 = MHA)")
    flops_per_token_per_block: PosFloat | None = None
    params_per_block: PosFloat | None = Field(None, description="parameters in one block (from the card)")
    block_bytes_by_dtype: dict[Dtype, Annotated[float, Field(ge=1, le=1e15, allow_inf_nan=False)]] | None = Field(
        None, description="s_m of each dtype a server may run (filled from the card); needed for a server "
                          "whose dtype differs from the model's")
    dtypes: list[Dtype] | None = Field(None, min_length=1, description=(
        "dtypes every server may choose from (quantisation as a decision); a server's own 'dtypes' wins; "
        "absent: each server runs its dtype"))
    quality_penalty_ms_per_block_per_token: dict[Dtype, NonNegFloat] = Field(default_factory=dict, description=(
        "the quality cost of a dtype, in the unit of decode time: solvers that choose dtypes add it to tau_j of "
        "every block served in that dtype (default: none); reported latencies never include it"))

    @model_validator(mode="before")
    @classmethod
    def _fill_from_card(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("card"):
            return data
        try:
            card = load_model_card(str(data["card"]))
        except UnknownModelError as err:
            raise ValueError(f"card: {err.problems[0]}") from None
        dtype = data.get("dtype", "nf4")
        filled = {
            "name": card.display_name,
            "num_blocks": card.num_blocks,
            "block_bytes": card.block_bytes.get(dtype),
            "kv_cache_bytes_per_token_per_block": card.kv_cache_bytes_per_token_per_block,
            "hidden_size": card.hidden_size,
            "context_tokens": card.context_tokens,
            "num_kv_groups": card.num_kv_groups,
            "flops_per_token_per_block": card.flops_per_token_per_block,
            "params_per_block": card.params_per_block,
            "block_bytes_by_dtype": dict(card.block_bytes),
        }
        filled.update({k: v for k, v in data.items() if v is not None})
        return filled

    @model_validator(mode="after")
    def _complete(self) -> "ModelSpec":
        missing = [f for f in ("num_blocks", "block_bytes", "kv_cache_bytes_per_token_per_block")
                   if getattr(self, f) is None]
        if missing:
            raise ValueError(f"give 'card' or all of {', '.join(missing)}")
        if self.block_bytes_by_dtype is not None and self.dtype not in self.block_bytes_by_dtype:
            raise ValueError(f"block_bytes_by_dtype: no entry for the model's dtype {self.dtype!r}")
        return self

    def bytes_of(self, dtype: str) -> float | None:
        """s_m in ``dtype``, bytes; None when neither the card nor ``block_bytes_by_dtype`` gives it."""
        if dtype == self.dtype:
            return float(self.block_bytes)
        return float(self.block_bytes_by_dtype[dtype]) if self.block_bytes_by_dtype and dtype in \
            self.block_bytes_by_dtype else None


class Server(_Frozen):
    """A GPU server: usable memory M_j and per-block compute times."""

    id: Id
    gpu: str | None = Field(None, description="GPU profile name (informational)")
    city: str | None = None
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    memory_gb: float = Field(gt=0, le=1e6, allow_inf_nan=False,
                             description="M_j, GPU memory usable for blocks and caches, GB (1e9 B)")
    prefill_ms_per_block: NonNegFloat = Field(description="fixed prefill time per block per request")
    prefill_ms_per_block_per_token: NonNegFloat = Field(description="prefill time per block per input token")
    decode_ms_per_block_per_token: PosFloat = Field(description="tau_j, decode time per block per token")
    bandwidth_mbps: PosFloat | None = Field(None, description="network bandwidth, Mbit/s (PETALS' network_rps)")
    batching: Literal["ideal", "none", "continuous"] = Field("ideal", description=(
        "how the GPU runs concurrent sessions: 'ideal' each as if alone (the papers' analytic model), "
        "'none' one step at a time (PETALS), 'continuous' batched decode steps (see optim.perf.batching)"))
    dtype: Dtype | None = Field(None, description="weight dtype on this server; absent: the model's. The "
                                                  "per-block times above are for this dtype")
    dtypes: list[Dtype] | None = Field(None, min_length=1, description=(
        "dtypes a solver may choose from for this server (overrides model.dtypes); needs a known 'gpu' profile "
        "to derive the other dtypes' times"))
    gpu_count: int = Field(1, ge=1, le=64, description="identical GPUs in the server; memory_gb is their total")
    tp_degree: int | None = Field(None, ge=1, le=64, description=(
        "tensor-parallel degree p (divides gpu_count); the gpu_count / p TP groups are pipeline stages inside the "
        "server; absent: gpu_count (all TP). The per-block times above are for this degree"))
    tp_degrees: list[int] | None = Field(None, min_length=1, description=(
        "TP degrees a solver may choose from (each divides gpu_count); needs a known 'gpu' profile"))
    interconnect: Literal["nvlink", "pcie"] = Field("pcie", description="link between the server's GPUs")
    interconnect_gb_per_s: PosFloat | None = Field(None, description=(
        "bandwidth of that link per GPU and direction, GB/s; absent: 300 for nvlink, 32 for pcie"))

    @property
    def tp(self) -> int:
        """The TP degree p this server runs (``tp_degree``, or all its GPUs)."""
        return self.tp_degree or self.gpu_count


class Client(_Frozen):
    """A request source (the orchestrator of the server-chain paper)."""

    id: Id
    city: str | None = None
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    arrival_rate_per_s: NonNegFloat = Field(description="Poisson arrival rate lambda_c, requests/s")
    bandwidth_mbps: PosFloat | None = Field(None, description="network bandwidth, Mbit/s; default: "
                                            "communication.default_bandwidth_mbps")


class RTT(_Frozen):
    """Round-trip times in milliseconds, in one of two layouts.

    - square (the usual): ``ids`` lists every client and server and ``rtt_ms[i][k]`` is the RTT from
      ``ids[i]`` to ``ids[k]``;
    - client x server block (for very large instances, where server-server RTTs are unknown and
      unused): ``rows`` lists at least every client, ``cols`` at least every server.

    RTTs may be asymmetric and violate the triangle inequality, as measured data does.
    """

    ids: list[Id] | None = Field(None, description="square layout: every client and server id")
    rows: list[Id] | None = Field(None, description="block layout: source ids (every client)")
    cols: list[Id] | None = Field(None, description="block layout: destination ids (every server)")
    rtt_ms: list[list[NonNegFloat]]

    def index_of(self) -> tuple[dict[str, int], dict[str, int]]:
        """Row and column position of each id."""
        rows = self.ids if self.ids is not None else (self.rows or [])
        cols = self.ids if self.ids is not None else (self.cols or [])
        return {k: i for i, k in enumerate(rows)}, {k: i for i, k in enumerate(cols)}


class Workload(_Frozen):
    """Request lengths, concurrency to reserve for, and target load.

    Latency is evaluated at the mean lengths; attention caches are sized for the maximum
    sequence ``input_tokens_max + output_tokens_max``.
    """

    input_tokens_mean: float = Field(ge=1, le=MAX_TOKENS, allow_inf_nan=False)
    input_tokens_max: int = Field(ge=1, le=MAX_TOKENS)
    output_tokens_mean: float = Field(ge=1, le=MAX_TOKENS, allow_inf_nan=False)
    output_tokens_max: int = Field(ge=1, le=MAX_TOKENS)
    concurrent_requests: int = Field(ge=1, le=MAX_CONCURRENT_REQUESTS,
                                     description="|R|, concurrent requests placements reserve cache for")
    target_load: float = Field(0.7, gt=0, lt=1, description="rho-bar, target utilisation (server-chain paper)")


class Communication(_Frozen):
    """Per-hop communication overheads added to the network RTT (BPRR, Sec. 2).

    Per decode token and hop: ``t_cj = rtt_cj + decode_overhead_ms``. Per prefill and hop:
    ``t^I_cj = rtt_cj + prefill_overhead_ms + prefill_overhead_ms_per_token * l_in``.

    With ``include_bandwidth`` (the default), both also carry the transfer of the activations: one
    token is ``2 x hidden_size x activation_bytes`` bytes to the server and back, over the narrower
    of the client's and the server's ``bandwidth_mbps`` (``default_bandwidth_mbps`` when absent):
    ``l_in`` tokens in the prefill, one per decode step.

    ``relay`` says where activations go between hops: ``client`` (default) through the client, so
    each hop costs the client-server round trip (and the transfer both ways); ``direct`` from server
    to server (PETALS 2's ``rpc_push``), so a token crosses half of each link's RTT from the client
    to the first server, between consecutive servers and from the last back to the client
    (:func:`optim.perf.latency.direct_comm`), each link's transfer once over its narrower end.

    ``round_trips`` says how a whole job (request) communicates, for every consumer of the request
    time (validator, chain service time T_k, GCA, gbp-cr, the Theorem-4 bounds, the simulator):
    ``per_token`` (default, BPRR's model and what a real session does): the prefill transfer, then
    one round trip per decode step, ``t^I_cj + (l_out - 1) t_cj`` per hop; ``per_job``: one round
    trip per job and hop, ``tau^c_j = rtt_cj + chain_overhead_ms``, as the server-chain paper's code
    (arXiv 2604.14993) counts it; only for reproducing that paper's numbers.
    """

    decode_overhead_ms: NonNegFloat = 0.0
    prefill_overhead_ms: NonNegFloat = 0.0
    prefill_overhead_ms_per_token: NonNegFloat = 0.0
    include_bandwidth: bool = Field(True, description=(
        "add the activations' transfer time per hop: 2 x hidden_size x activation_bytes per token (to the "
        "server and back, the client relaying), over the narrower of the client's and the server's "
        "bandwidth; false for settings whose measured overheads already hold it (the BPRR paper's)"))
    activation_bytes: PosFloat = Field(2.0, description="bytes per activation value on the wire (fp16: 2)")
    default_bandwidth_mbps: PosFloat = Field(
        1000.0, description="bandwidth of a server or client that gives none, Mbit/s (1 Gbit/s)")
    chain_overhead_ms: NonNegFloat = Field(18.0, le=1e12, allow_inf_nan=False,
                                           description="per job and hop, with round_trips = per_job only")
    round_trips: Literal["per_token", "per_job"] = Field(
        "per_token", description="per_token: prefill, then one round trip per decode step (BPRR); per_job: one "
                                 "round trip per job and hop (the server-chain paper's code)")
    relay: Literal["client", "direct"] = Field(
        "client", description="client: the client relays activations between servers (hub and spoke, BPRR); "
                              "direct: each server sends them to the next server (PETALS' rpc_push) and the last "
                              "back to the client, at the server-server RTTs of a square rtt matrix")


class Instance(_Frozen):
    """A complete, validated placement-and-routing problem (immutable).

    Besides the file fields, offers SI views for algorithms: ``num_blocks`` (L),
    ``block_bytes`` (s_m), ``cache_bytes_per_block_session`` (s_c), ``memory_bytes`` (J,),
    ``decode_s`` (J,), ``prefill_s`` (J,), ``rtt_s`` (C, J), ``decode_comm_s`` (C, J),
    ``prefill_comm_s`` (C, J), ``arrival_rates`` (C,).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", ignored_types=(cached_property,))

    format: Literal["optim-instance/1"] = INSTANCE_FORMAT
    name: str = "instance"
    description: str = ""
    provenance: dict[str, Any] = Field(default_factory=dict)
    model: ModelSpec
    servers: list[Server] = Field(min_length=1, max_length=MAX_SERVERS)
    clients: list[Client] = Field(min_length=1, max_length=MAX_CLIENTS)
    rtt: RTT
    workload: Workload
    communication: Communication = Field(default_factory=Communication)

    @model_validator(mode="after")
    def _consistent(self) -> "Instance":
        problems = consistency_problems(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # ---- changed copies ---------------------------------------------------------------------
    def replace(self, **changes: Any) -> "Instance":
        """A new instance with top-level fields changed, validated again, derived arrays fresh.

        Parameters
        ----------
        **changes
            Field values (models or plain data), e.g. ``workload=...`` or ``servers=[...]``.

        Raises
        ------
        InvalidInstanceError
            The changed instance is invalid; the message names the field.

        Examples
        --------
        >>> from optim.generators import clustered_instance
        >>> inst = clustered_instance("small")
        >>> w = inst.workload.model_copy(update={"concurrent_requests": 8})
        >>> inst.replace(workload=w).workload.concurrent_requests
        8
        """
        return self.model_copy(update=changes)

    def replace_server(self, server_id: str, **fields: Any) -> "Instance":
        """A new instance in which server ``server_id`` has ``fields`` changed (validated again).

        Raises
        ------
        InvalidInstanceError
            No server has that id, or the changed instance is invalid.

        Examples
        --------
        >>> from optim.generators import clustered_instance
        >>> inst = clustered_instance("small")
        >>> sid = inst.servers[0].id
        >>> smaller = inst.replace_server(sid, memory_gb=40)
        >>> float(smaller.memory_bytes[0])
        40000000000.0
        """
        if server_id not in self.server_index:
            raise InvalidInstanceError(f"servers: no server has id {server_id!r}; expected one of "
                                       f"{', '.join(list(self.server_index)[:10])}")
        servers = [s.model_dump() | fields if s.id == server_id else s.model_dump() for s in self.servers]
        return self.model_copy(update={"servers": servers})

    def without_servers(self, server_ids: Iterable[str]) -> "Instance":
        """A new instance without the servers ``server_ids``, their RTT rows and columns dropped
        (what the swarm is after they leave), validated again.

        Raises
        ------
        InvalidInstanceError
            An id that no server has, or no server left.

        Examples
        --------
        >>> from optim.generators import clustered_instance
        >>> inst = clustered_instance("small")
        >>> inst.without_servers(["a100-0", "a100-1"]).num_servers
        7
        """
        gone = set(server_ids)
        unknown = sorted(gone - set(self.server_index))
        if unknown:
            raise InvalidInstanceError(f"servers: no server has id {', '.join(map(repr, unknown))}; expected some of "
                                       f"{', '.join(list(self.server_index)[:10])}")
        keep = [srv for srv in self.servers if srv.id not in gone]
        if not keep:
            raise InvalidInstanceError("servers: removing every server leaves none")
        ids = {srv.id for srv in keep} | {c.id for c in self.clients}
        r = self.rtt
        if r.ids is not None:
            k = [n for n, x in enumerate(r.ids) if x in ids]
            rtt = {"ids": [r.ids[n] for n in k], "rtt_ms": np.asarray(r.rtt_ms)[np.ix_(k, k)].tolist()}
        else:
            k = [n for n, x in enumerate(r.cols) if x in ids]
            rtt = {"rows": r.rows, "cols": [r.cols[n] for n in k], "rtt_ms": np.asarray(r.rtt_ms)[:, k].tolist()}
        return self.model_copy(update={"servers": keep, "rtt": rtt})

    # ---- SI views -------------------------------------------------------------------------
    @property
    def num_blocks(self) -> int:
        """L, the number of transformer blocks."""
        return int(self.model.num_blocks)

    @property
    def num_servers(self) -> int:
        return len(self.servers)

    @property
    def num_clients(self) -> int:
        return len(self.clients)

    @property
    def block_bytes(self) -> float:
        """s_m, bytes per block."""
        return float(self.model.block_bytes)

    @property
    def cache_bytes_per_block_session(self) -> float:
        """s_c, KV-cache bytes one session needs in one block: kv bytes/token x (l_in,max + l_out,max)."""
        w = self.workload
        return float(self.model.kv_cache_bytes_per_token_per_block) * (w.input_tokens_max + w.output_tokens_max)

    @cached_property
    def server_index(self) -> dict[str, int]:
        return {s.id: j for j, s in enumerate(self.servers)}

    @cached_property
    def client_index(self) -> dict[str, int]:
        return {c.id: i for i, c in enumerate(self.clients)}

    @cached_property
    def memory_bytes(self) -> np.ndarray:
        """M_j in bytes, shape (J,)."""
        return _read_only(np.array([s.memory_gb * GB for s in self.servers]))

    @cached_property
    def server_block_bytes(self) -> np.ndarray:
        """s_m of each server's dtype, bytes, shape (J,)."""
        return _read_only(np.array([self.model.bytes_of(s.dtype or self.model.dtype) for s in self.servers]))

    @property
    def server_dtypes(self) -> list[str]:
        """The dtype each server runs, (J,)."""
        return [s.dtype or self.model.dtype for s in self.servers]

    @cached_property
    def quality_penalty_s(self) -> np.ndarray:
        """The quality penalty of each server's dtype, seconds per block per decode token, shape (J,)."""
        pen = self.model.quality_penalty_ms_per_block_per_token
        return _read_only(np.array([pen.get(d, 0.0) * MS for d in self.server_dtypes]))

    @cached_property
    def _stage_terms(self) -> tuple[np.ndarray, np.ndarray]:
        from .perf.parallelism import link_of

        fixed, per_token = np.zeros(self.num_servers), np.zeros(self.num_servers)
        token = (self.model.hidden_size or 0) * self.communication.activation_bytes
        for j, s in enumerate(self.servers):
            q = s.gpu_count // s.tp
            if q > 1:
                link = link_of(s.interconnect, s.interconnect_gb_per_s)
                fixed[j] = (q - 1) * link.latency_s
                per_token[j] = (q - 1) * token / link.bandwidth_bytes_per_s
        return _read_only(fixed), _read_only(per_token)

    @property
    def stage_fixed_s(self) -> np.ndarray:
        """Latency of the PP stage boundaries inside each server, per token pass and hop, seconds, (J,):
        ``(q - 1) alpha`` (:mod:`optim.perf.parallelism`)."""
        return self._stage_terms[0]

    @property
    def stage_s_per_token(self) -> np.ndarray:
        """Transfer over the PP stage boundaries inside each server per token, seconds, (J,):
        ``(q - 1) h a / B``."""
        return self._stage_terms[1]

    @cached_property
    def decode_s(self) -> np.ndarray:
        """tau_j, decode seconds per block per token, shape (J,)."""
        return _read_only(np.array([s.decode_ms_per_block_per_token * MS for s in self.servers]))

    @cached_property
    def prefill_s_fixed(self) -> np.ndarray:
        """t_o,j, fixed prefill seconds per block per request, shape (J,)."""
        return _read_only(np.array([s.prefill_ms_per_block * MS for s in self.servers]))

    @cached_property
    def prefill_s_per_token(self) -> np.ndarray:
        """t^I_j, prefill seconds per block per input token, shape (J,)."""
        return _read_only(np.array([s.prefill_ms_per_block_per_token * MS for s in self.servers]))

    @cached_property
    def prefill_s(self) -> np.ndarray:
        """tau^I_j(l_in), prefill seconds per block at the mean input length, shape (J,)."""
        l_in = self.workload.input_tokens_mean
        return _read_only(np.array([(s.prefill_ms_per_block + s.prefill_ms_per_block_per_token * l_in) * MS
                                    for s in self.servers]))

    @cached_property
    def rtt_s(self) -> np.ndarray:
        """RTT client -> server in seconds, shape (C, J)."""
        row_of, col_of = self.rtt.index_of()
        rows = [row_of[c.id] for c in self.clients]
        cols = [col_of[s.id] for s in self.servers]
        return _read_only(np.asarray(self.rtt.rtt_ms, dtype=float)[np.ix_(rows, cols)] * MS)

    @cached_property
    def server_rtt_s(self) -> np.ndarray:
        """RTT server -> server in seconds, shape (J, J) (square rtt layout only).

        Raises
        ------
        InvalidInstanceError
            The rtt matrix is a client x server block.
        """
        if self.rtt.ids is None:
            raise InvalidInstanceError("rtt: server-server RTTs need the square layout (rtt.ids)")
        row_of, col_of = self.rtt.index_of()
        idx = [row_of[s.id] for s in self.servers]
        cols = [col_of[s.id] for s in self.servers]
        return _read_only(np.asarray(self.rtt.rtt_ms, dtype=float)[np.ix_(idx, cols)] * MS)

    @cached_property
    def bandwidth_bits_per_s(self) -> tuple[np.ndarray, np.ndarray]:
        """Bandwidth of each client (C,) and server (J,), bit/s (``default_bandwidth_mbps`` when absent)."""
        com = self.communication
        srv = np.array([s.bandwidth_mbps or com.default_bandwidth_mbps for s in self.servers]) * MBIT_PER_S
        cli = np.array([c.bandwidth_mbps or com.default_bandwidth_mbps for c in self.clients]) * MBIT_PER_S
        return _read_only(cli), _read_only(srv)

    @cached_property
    def transfer_s_per_token(self) -> np.ndarray:
        """Seconds to move one token's activations to server j and back for client c, shape (C, J):
        ``2 x hidden_size x activation_bytes x 8 / min(bandwidth_c, bandwidth_j)``; zeros without
        ``communication.include_bandwidth`` or a model hidden size."""
        com, hidden = self.communication, self.model.hidden_size
        if not com.include_bandwidth or not hidden:
            return _read_only(np.zeros((self.num_clients, self.num_servers)))
        cli, srv = self.bandwidth_bits_per_s
        bits = 2.0 * hidden * com.activation_bytes * 8.0
        return _read_only(bits / np.minimum(cli[:, None], srv[None, :]))

    @cached_property
    def comm_s_per_input_token(self) -> np.ndarray:
        """Prefill communication per input token and hop: overhead + transfer, seconds, shape (C, J)."""
        return _read_only(self.communication.prefill_overhead_ms_per_token * MS + self.transfer_s_per_token
                          + self.stage_s_per_token[None, :])

    @cached_property
    def decode_comm_s(self) -> np.ndarray:
        """t_cj = rtt_cj + decode overhead + one token's transfer, seconds per decode step per hop, (C, J)."""
        return _read_only(self.rtt_s + self.communication.decode_overhead_ms * MS + self.transfer_s_per_token
                          + self.stage_fixed_s + self.stage_s_per_token)

    @cached_property
    def prefill_comm_s(self) -> np.ndarray:
        """t^I_cj = rtt_cj + prefill overhead + (per-token overhead + transfer) x l_in, seconds per hop, (C, J)."""
        c = self.communication
        return _read_only(self.rtt_s + c.prefill_overhead_ms * MS + self.stage_fixed_s
                          + self.comm_s_per_input_token * self.workload.input_tokens_mean)

    @cached_property
    def arrival_rates(self) -> np.ndarray:
        """lambda_c in requests/s, shape (C,)."""
        return _read_only(np.array([c.arrival_rate_per_s for c in self.clients]))

    @property
    def total_arrival_rate(self) -> float:
        """lambda = sum of the clients' rates, requests/s."""
        return float(self.arrival_rates.sum())


def _read_only(a: np.ndarray) -> np.ndarray:
    """Derived arrays are views of an immutable instance: writing to them is an error."""
    a.setflags(write=False)
    return a


def consistency_problems(inst: Instance) -> list[str]:
    """Cross-field checks that types and ranges cannot express; one string per problem."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for kind, items in (("servers", inst.servers), ("clients", inst.clients)):
        for i, it in enumerate(items):
            if it.id in seen:
                problems.append(f"{kind}[{i}].id: duplicate id {it.id!r} (already used in {seen[it.id]})")
            else:
                seen[it.id] = f"{kind}[{i}]"
    problems += _rtt_problems(inst.rtt, [c.id for c in inst.clients], [s.id for s in inst.servers])
    if inst.communication.relay == "direct" and inst.rtt.ids is None:
        problems.append("communication.relay: 'direct' needs the server-server RTTs of a square rtt matrix (rtt.ids); "
                        "this instance gives a client x server block (rtt.rows, rtt.cols)")
    problems += _configuration_problems(inst)
    w = inst.workload
    if w.input_tokens_mean > w.input_tokens_max:
        problems.append(f"workload.input_tokens_mean: {w.input_tokens_mean} exceeds input_tokens_max {w.input_tokens_max}")
    if w.output_tokens_mean > w.output_tokens_max:
        problems.append(f"workload.output_tokens_mean: {w.output_tokens_mean} exceeds output_tokens_max {w.output_tokens_max}")
    if sum(c.arrival_rate_per_s for c in inst.clients) <= 0:
        problems.append("clients[*].arrival_rate_per_s: all zero; expected a positive total arrival rate")
    return problems


def _configuration_problems(inst: Instance) -> list[str]:
    """Dtypes the model has sizes for, TP degrees that divide the GPU count."""
    problems = []
    model = inst.model
    for d in model.dtypes or []:
        if model.bytes_of(d) is None:
            problems.append(f"model.dtypes: {d!r} has no block size; give 'card' or model.block_bytes_by_dtype")
    for j, s in enumerate(inst.servers):
        for d in ([s.dtype] if s.dtype else []) + (s.dtypes or []):
            if model.bytes_of(d) is None:
                problems.append(f"servers[{j}].dtype: {d!r} has no block size; give model.card or "
                                "model.block_bytes_by_dtype")
                break
        for p in ([s.tp_degree] if s.tp_degree else []) + (s.tp_degrees or []):
            if s.gpu_count % p:
                problems.append(f"servers[{j}].tp_degree: {p} does not divide gpu_count {s.gpu_count}")
                break
        if s.gpu_count // s.tp > 1 and not model.hidden_size:
            problems.append(f"servers[{j}]: {s.gpu_count // s.tp} pipeline stages inside the server need "
                            "model.hidden_size for their activation transfers")
    return problems


def _rtt_problems(rtt: RTT, client_ids: list[str], server_ids: list[str]) -> list[str]:
    problems = []
    if rtt.ids is not None:
        if rtt.rows is not None or rtt.cols is not None:
            return ["rtt: give either ids (square matrix) or rows and cols (client x server block), not both"]
        rows = cols = rtt.ids
        need_rows = need_cols = set(client_ids) | set(server_ids)
        what = "rtt.ids", "rtt.ids"
    elif rtt.rows is not None and rtt.cols is not None:
        rows, cols = rtt.rows, rtt.cols
        need_rows, need_cols = set(client_ids), set(server_ids)
        what = "rtt.rows", "rtt.cols"
    else:
        return ["rtt: missing ids; expected ids (square matrix over all clients and servers) or rows and cols"]
    for name, ids, need, kind in ((what[0], rows, need_rows, "source"), (what[1], cols, need_cols, "destination")):
        if len(set(ids)) != len(ids):
            dup = sorted({x for x in ids if ids.count(x) > 1})
            problems.append(f"{name}: duplicate ids {dup[:5]}")
        missing = sorted(need - set(ids))
        if missing:
            more = " ..." if len(missing) > 5 else ""
            problems.append(f"{name}: no {kind} entry for {missing[:5]}{more}; expected "
                            + ("every client and server id" if rtt.ids is not None
                               else "every client id" if kind == "source" else "every server id"))
        if rtt.ids is not None:
            extra = sorted(set(ids) - need)
            if extra:
                problems.append(f"{name}: unknown ids {extra[:5]}; expected only client and server ids")
            break
    shape = "square" if rtt.ids is not None else "rows x cols"
    if len(rtt.rtt_ms) != len(rows):
        problems.append(f"rtt.rtt_ms: {len(rtt.rtt_ms)} rows for {len(rows)} ids; expected a {shape} "
                        f"{len(rows)} x {len(cols)} matrix")
    for i, row in enumerate(rtt.rtt_ms):
        if len(row) != len(cols):
            problems.append(f"rtt.rtt_ms[{i}]: {len(row)} columns; expected {len(cols)} ({shape} matrix)")
            break
    return problems


def _format_validation_error(err: ValidationError) -> list[str]:
    """One ``"<field path>: <reason> (got <value>)"`` string per problem pydantic found."""
    out = []
    for e in err.errors():
        loc = ""
        for part in e["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "value_error":
            # our own validators: at the top, newline-joined "<path>: <reason>" problems; below it,
            # a reason that may start with a sub-field ("card: unknown model ...")
            if not loc:
                out.extend(msg.split("\n"))
            elif re.match(r"^[A-Za-z_]\w*: ", msg):
                out.append(f"{loc}.{msg}")
            else:
                out.append(f"{loc}: {msg}")
            continue
        got = e.get("input")
        shown = "" if e["type"] == "missing" or isinstance(got, (dict, list)) else f" (got {got!r})"
        out.append(f"{loc or 'instance'}: {msg}{shown}")
    return out


def instance_from_dict(data: Any, source: str | None = None) -> Instance:
    """Validate a parsed JSON object as an :class:`Instance`.

    Raises
    ------
    InvalidInstanceError
        Naming every bad field: its path, the reason and the value received.
    """
    if isinstance(data, dict) and "format" in data and data["format"] != INSTANCE_FORMAT:
        raise InvalidInstanceError(
            f"format: {data['format']!r} is not supported; expected {INSTANCE_FORMAT!r}", source)
    if not isinstance(data, dict):
        raise InvalidInstanceError(f"instance: a JSON {type(data).__name__}; expected an object with format "
                                   f"{INSTANCE_FORMAT!r}", source)
    try:
        return Instance.model_validate(data)
    except ValidationError as err:
        raise InvalidInstanceError(_format_validation_error(err), source) from None
    except RecursionError:
        raise InvalidInstanceError("instance: nested too deeply; expected an optim-instance/1 document",
                                   source) from None


#: the largest input file read (a 3,000-server square RTT matrix is about 100 MB of JSON)
MAX_FILE_BYTES = 1 << 30


def read_text_file(path: str | Path, what: str = "file") -> bytes:
    """The bytes of a regular file of at most :data:`MAX_FILE_BYTES`.

    Refuses, instead of hanging on or exhausting memory with them, a FIFO, a device such as
    ``/dev/urandom``, a folder, and a file over the size limit.

    Raises
    ------
    InvalidInstanceError
        Naming the path and the reason.
    """
    p = Path(path)
    try:
        st = p.stat()
    except OSError as err:
        raise InvalidInstanceError(f"cannot read file: {err.strerror}", str(p)) from None
    import stat

    if stat.S_ISDIR(st.st_mode):
        raise InvalidInstanceError(f"is a folder; expected a {what}", str(p))
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInstanceError(f"not a regular file (a pipe, socket or device); expected a {what}", str(p))
    if st.st_size > MAX_FILE_BYTES:
        raise InvalidInstanceError(f"{st.st_size:,} bytes; expected a {what} of at most {MAX_FILE_BYTES:,} bytes",
                                   str(p))
    try:
        return p.read_bytes()
    except OSError as err:
        raise InvalidInstanceError(f"cannot read file: {err.strerror}", str(p)) from None


def decode_text(data: bytes, source: str) -> str:
    """Text of a file in UTF-8 (with or without BOM), UTF-16 or UTF-32 (by BOM).

    Raises
    ------
    InvalidInstanceError
        Another encoding (e.g. Latin-1), naming the first bad byte.
    """
    import codecs

    for bom, enc in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
                     (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            break
    else:
        enc = "utf-8"
    try:
        return data.decode(enc)
    except UnicodeDecodeError as err:
        raise InvalidInstanceError(f"not {enc.upper()} text: byte 0x{data[err.start]:02x} at offset {err.start} "
                                   "cannot be decoded; save the file as UTF-8", source) from None


def read_json(path: str | Path) -> Any:
    """Read a JSON file, turning I/O, encoding and syntax errors into :class:`InvalidInstanceError`.

    Accepts UTF-8, UTF-16 and UTF-32 (by byte-order mark); refuses non-regular files, files over
    :data:`MAX_FILE_BYTES`, NaN and Infinity, and nesting too deep to read.
    """
    p = Path(path)
    text = decode_text(read_text_file(p, "JSON file"), str(p))
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise InvalidInstanceError(f"not valid JSON: {err.msg} at line {err.lineno} column {err.colno}",
                                   str(p)) from None
    except RecursionError:
        raise InvalidInstanceError("JSON nested too deeply to read; expected an optim document", str(p)) from None
    except ValueError as err:
        raise InvalidInstanceError(str(err), str(p)) from None


def _reject_constant(name: str) -> float:
    raise ValueError(f"not valid JSON: {name} is not a number; expected a finite value")


def load_instance(path: str | Path) -> Instance:
    """Load and validate an instance file.

    Parameters
    ----------
    path : str or Path
        A JSON file in the ``optim-instance/1`` format (``optim schema instance`` prints its schema).

    Returns
    -------
    Instance

    Raises
    ------
    InvalidInstanceError
        The file cannot be read, is not JSON, or is malformed or inconsistent; the message names
        the field, the value and what was expected.

    Examples
    --------
    >>> import json, tempfile
    >>> from optim import load_instance
    >>> from optim.generators import clustered_instance
    >>> path = tempfile.mktemp(suffix=".json")
    >>> _ = open(path, "w").write(json.dumps(clustered_instance("small").model_dump(mode="json")))
    >>> inst = load_instance(path)
    >>> inst.num_servers, inst.num_blocks
    (9, 70)
    >>> open(path, "w").write('{"format": "optim-instance/1"}') and load_instance(path)
    Traceback (most recent call last):
    ...
    optim.errors.InvalidInstanceError: ...: invalid input (5 problems): model: Field required; servers: Field required; clients: Field required; rtt: Field required; workload: Field required
    """
    return instance_from_dict(read_json(path), source=str(path))


def instance_schema() -> dict:
    """JSON Schema of the instance format."""
    return Instance.model_json_schema()

