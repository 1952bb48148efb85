"""Solutions: a placement (a contiguous block span per server and the cache it reserves), a
routing (client paths of hops, each hop running a contiguous block range on one server, with
the number of the |R| concurrent requests sent along it), and the solver's status and report.

File format ``optim-solution/1``; spans are half-open ``[start, end)`` and 0-based, as in PETALS.
"""
from __future__ import annotations

from enum import Enum
from pathlib import Path as FilePath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import InvalidInstanceError
from .instance import _format_validation_error, read_json

SOLUTION_FORMAT = "optim-solution/1"


class Status(str, Enum):
    """Termination condition of a solve (linopy-style: one shared enum for all backends)."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"  #: a heuristic's solution, or a MILP stopped with an incumbent
    TIME_LIMIT = "time_limit"  #: stopped at the time limit with an incumbent (see bound, gap)
    INFEASIBLE = "infeasible"  #: proven or detected infeasible; ``message`` says why
    ERROR = "error"

    @property
    def has_solution(self) -> bool:
        return self in (Status.OPTIMAL, Status.FEASIBLE, Status.TIME_LIMIT)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerPlacement(_Frozen):
    """Blocks ``[start, end)`` on one server and the attention-cache slots it reserves.

    One cache slot holds one session's KV cache for one block (s_c bytes), so a server
    reserving ``cache_slots`` uses ``s_m (end - start) + s_c cache_slots`` bytes.
    """

    server: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    cache_slots: int = Field(ge=0)

    @property
    def num_blocks(self) -> int:
        return max(self.end - self.start, 0)


class Hop(_Frozen):
    """One server of a path running blocks ``[start, end)``."""

    server: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class Path(_Frozen):
    """A client's route through the servers, carrying ``requests`` of the |R| concurrent requests."""

    client: str
    hops: list[Hop]
    requests: int = Field(ge=0)


class Chain(_Frozen):
    """A server chain (arXiv 2604.14993): hops running every block once, in order, able to hold
    ``capacity`` concurrent jobs (c_k), each taking ``service_time_s`` (T_k, Eq. 2)."""

    hops: list[Hop]
    capacity: int = Field(ge=0)
    service_time_s: float = Field(gt=0)


class Solution(_Frozen):
    """A solver's answer: status, objective, bound, gap, placement and routing.

    ``objective`` is in the unit ``objective_name`` states (seconds for time objectives).
    ``gap`` is the relative optimality gap ``|objective - bound| / |objective|`` when a bound is known.
    """

    format: Literal["optim-solution/1"] = SOLUTION_FORMAT
    instance: str
    solver: str
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


def load_solution(path: str | FilePath) -> Solution:
    """Load a solution file.

    Raises
    ------
    InvalidInstanceError
        The file is unreadable, not JSON, or not an ``optim-solution/1`` document.
    """
    data = read_json(path)
    try:
        return Solution.model_validate(data)
    except ValidationError as err:
        raise InvalidInstanceError(_format_validation_error(err), str(path)) from None
