"""Solutions: a placement (a contiguous block span per server and the cache it reserves), a
routing (client paths of hops, each hop running a contiguous block range on one server, with
the number of the |R| concurrent requests sent along it), and the solver's status and report.

File format ``optim-solution/1``; spans are half-open ``[start, end)`` and 0-based, as in PETALS.
"""
from __future__ import annotations

from enum import Enum
from pathlib import Path as FilePath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, computed_field, model_validator

from .errors import InvalidInstanceError
from .instance import MAX_BLOCKS, MAX_CONCURRENT_REQUESTS, _format_validation_error, read_json

SOLUTION_FORMAT = "optim-solution/1"


class Status(str, Enum):
    """Why a solve stopped: its termination condition (the fine level of linopy's two-level scheme).

    Whether there is a solution is the other level, :attr:`Solution.has_solution`: a MILP stopped
    at its time limit may or may not hold an incumbent, and ``time_limit`` says only why it stopped.
    ``error`` is kept for real faults (a backend that crashed, a solver output that fails
    validation); a search that found nothing in time is not an error.
    """

    OPTIMAL = "optimal"  #: proven optimal (within the requested gap)
    FEASIBLE = "feasible"  #: stopped normally without a proof: a heuristic, or a MILP's gap not closed
    TIME_LIMIT = "time_limit"  #: stopped at the time limit (see ``has_solution``, bound, gap)
    INTERRUPTED = "interrupted"  #: stopped by the user (Ctrl-C); the incumbent, if any, is kept
    INFEASIBLE = "infeasible"  #: proven or detected infeasible; ``message`` says why
    ERROR = "error"  #: a fault: the backend failed or the output failed validation

    @property
    def can_have_solution(self) -> bool:
        """Whether a solution may come with this condition (not ``infeasible``, not ``error``)."""
        return self not in (Status.INFEASIBLE, Status.ERROR)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerPlacement(_Frozen):
    """Blocks ``[start, end)`` on one server and the attention-cache slots it reserves.

    One cache slot holds one session's KV cache for one block (s_c bytes), so a server
    reserving ``cache_slots`` uses ``s_m (end - start) + s_c cache_slots`` bytes.
    """

    server: str
    start: int = Field(ge=0, le=MAX_BLOCKS)
    end: int = Field(ge=0, le=MAX_BLOCKS)
    cache_slots: int = Field(ge=0, le=10**15)
    dtype: Literal["fp16", "int8", "nf4"] | None = Field(None, description=(
        "the weight dtype the solver chose for this server (absent: the instance's)"))
    tp_degree: int | None = Field(None, ge=1, le=64, description=(
        "the tensor-parallel degree the solver chose (absent: the instance's)"))

    @property
    def num_blocks(self) -> int:
        return max(self.end - self.start, 0)


class Hop(_Frozen):
    """One server of a path running blocks ``[start, end)``."""

    server: str
    start: int = Field(ge=0, le=MAX_BLOCKS)
    end: int = Field(ge=0, le=MAX_BLOCKS)


class Path(_Frozen):
    """A client's route through the servers, carrying ``requests`` of the |R| concurrent requests."""

    client: str
    hops: list[Hop] = Field(max_length=MAX_BLOCKS)
    requests: int = Field(ge=0, le=MAX_CONCURRENT_REQUESTS)


class Chain(_Frozen):
    """A server chain (arXiv 2604.14993): hops running every block once, in order, able to hold
    ``capacity`` concurrent jobs (c_k), each taking ``service_time_s`` (T_k, Eq. 2)."""

    hops: list[Hop] = Field(max_length=MAX_BLOCKS)
    capacity: int = Field(ge=0, le=MAX_CONCURRENT_REQUESTS)
    service_time_s: float = Field(gt=0, allow_inf_nan=False)


class Solution(_Frozen):
    """A solver's answer: status, objective, bound, gap, placement and routing.

    ``objective`` is in the unit ``objective_name`` states (seconds for time objectives).
    ``gap`` is the relative optimality gap ``|objective - bound| / |objective|`` when a bound is known.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["optim-solution/1"] = SOLUTION_FORMAT
    instance: str
    solver: str
    #: the evaluation :func:`optim.solve` validated this solution with (against the instance it was
    #: solved on), kept so callers need not evaluate it again; not serialised
    _evaluation: Any = PrivateAttr(default=None)
    status: Status
    message: str = ""
    objective: float | None = None
    objective_name: str = ""
    bound: float | None = None
    gap: float | None = None
    solve_time_s: float = 0.0
    options: dict[str, Any] = Field(default_factory=dict)
    placement: list[ServerPlacement] = Field(default_factory=list)
    paths: list[Path] = Field(default_factory=list)
    chains: list[Chain] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _drop_derived(cls, data: Any) -> Any:
        # ``has_solution`` is written for readers of the file, and derived again on loading
        if isinstance(data, dict) and "has_solution" in data:
            data = {k: v for k, v in data.items() if k != "has_solution"}
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def has_solution(self) -> bool:
        """Whether a placement comes with this answer (the coarse level of the status).

        True when the placement hosts at least one block and the status is not ``infeasible``
        or ``error``: an ``optimal``, ``feasible``, ``time_limit`` or ``interrupted`` solve with
        an incumbent.
        """
        return self.status.can_have_solution and any(p.end > p.start for p in self.placement)


    def spans(self, inst: Any) -> tuple[Any, Any, Any]:
        """The placement as arrays in the instance's server order, matched by server id.

        Returns
        -------
        start, end, cache_slots : ndarray of int, shape (J,)
            Half-open spans ``[start, end)`` and reserved cache slots; servers the placement does not
            list hold nothing (0, 0, 0).

        Raises
        ------
        InvalidInstanceError
            A placement entry names a server that is not in ``inst``.
        """
        import numpy as np

        J = inst.num_servers
        start, end, slots = (np.zeros(J, dtype=np.int64) for _ in range(3))
        for k, p in enumerate(self.placement):
            j = inst.server_index.get(p.server)
            if j is None:
                raise InvalidInstanceError(f"placement[{k}].server: {p.server!r} is not a server of instance "
                                           f"{inst.name!r}")
            start[j], end[j], slots[j] = p.start, p.end, p.cache_slots
        return start, end, slots


def load_solution(path: str | FilePath) -> Solution:
    """Load a solution file.

    Raises
    ------
    InvalidInstanceError
        The file is unreadable, not JSON, or not an ``optim-solution/1`` document.
    """
    data = read_json(path)
    if not isinstance(data, dict):
        raise InvalidInstanceError(f"solution: a JSON {type(data).__name__}; expected an object with format "
                                   f"{SOLUTION_FORMAT!r}", str(path))
    try:
        return Solution.model_validate(data)
    except ValidationError as err:
        raise InvalidInstanceError(_format_validation_error(err), str(path)) from None
    except RecursionError:
        raise InvalidInstanceError("solution: nested too deeply; expected an optim-solution/1 document",
                                   str(path)) from None
