"""Solver options declared once, as data, and checked before any solving.

A solver declares each keyword option in its signature with a type that carries its range and
meaning (``Annotated[float, Field(gt=0, description=...)]``, scikit-learn's "constraints as data"
habit); :func:`options_model` turns the signature into a pydantic model, and :func:`check_options`
validates a dict of options against it, naming the solver, the option, the value received and what
was expected. List options accept a list, a tuple or one comma-separated string (``"latency,nu"``),
the same from Python, ``--option KEY=VALUE`` and sweep files.
"""
from __future__ import annotations

import typing
from functools import lru_cache
from typing import Annotated, Any, Callable, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from .errors import InvalidOptionError

#: an upper bound on sizes and counts a user may ask for, far above any real use; larger values
#: would only exhaust memory or time
MAX_COUNT = 10_000_000


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return value


def _unique(value: tuple) -> tuple:
    if len(set(value)) != len(value):
        raise ValueError(f"repeated entries in {list(value)}")
    return value


def _registered_solver(name: str) -> str:
    from .solvers.base import REGISTRY

    if name not in REGISTRY:
        raise ValueError(f"unknown solver {name!r}; expected one of {', '.join(sorted(REGISTRY))}")
    return name


def csv_list(item: Any, *, min_length: int = 0, description: str = "") -> Any:
    """A tuple option given as a list or as one comma-separated string, entries unique."""
    return Annotated[tuple[item, ...], BeforeValidator(_split_csv), AfterValidator(_unique),
                     Field(min_length=min_length, description=description)]


SolverName = Annotated[str, AfterValidator(_registered_solver)]

TimeLimit = Annotated[float | None, Field(
    gt=0, le=1e7, allow_inf_nan=False,
    description="seconds for the whole call, model building included; None for no limit")]
MipGap = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False,
                                description="relative optimality gap at which the MILP stops")]
Threads = Annotated[int | None, Field(ge=1, le=1024, description="threads for the MILP backend; None: its default")]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1, description="random seed (0 to 2^32 - 1)")]
Backend = Annotated[Literal["highs", "ortools"], Field(
    description="MILP backend: highs (HiGHS, highspy) or ortools (SCIP through OR-Tools)")]
Objective = Annotated[Literal["decode", "inference"], Field(
    description="decode: mean per-token decode time (BPRR Eq. 13a); inference: mean whole-request time")]

#: options that are not options (callbacks passed by the caller)
_NOT_OPTIONS = ("progress",)


@lru_cache(maxsize=None)
def options_model(func: Callable[..., Any], solver: str) -> type[BaseModel]:
    """A pydantic model of ``func``'s keyword-only options (types, ranges, defaults, descriptions)."""
    import inspect

    hints = typing.get_type_hints(func, include_extras=True)
    fields: dict[str, Any] = {}
    for p in inspect.signature(func).parameters.values():
        if p.kind is not p.KEYWORD_ONLY or p.name in _NOT_OPTIONS:
            continue
        fields[p.name] = (hints.get(p.name, Any), p.default)
    name = "".join(part.capitalize() for part in solver.replace("-", "_").split("_")) + "Options"
    return create_model(name, __config__=ConfigDict(extra="forbid", frozen=True), **fields)


def describe_options(func: Callable[..., Any], solver: str) -> list[dict[str, Any]]:
    """One row per option: name, type, default, description (for ``optim solvers NAME``)."""
    model = options_model(func, solver)
    rows = []
    for name, f in model.model_fields.items():
        ann = f.annotation
        if typing.get_origin(ann) is typing.Literal:  # the choices, not the word "Literal"
            typ = " | ".join(repr(a) for a in typing.get_args(ann))
        else:
            typ = getattr(ann, "__name__", None) or str(ann).replace("typing.", "")
        constraints = [str(m) for m in f.metadata if type(m).__name__ in ("Gt", "Ge", "Lt", "Le", "MinLen", "MaxLen")]
        rows.append({"name": name, "type": typ + (f" ({', '.join(constraints)})" if constraints else ""),
                     "default": f.default, "description": f.description or ""})
    return rows


def check_options(func: Callable[..., Any], solver: str, options: dict[str, Any]) -> dict[str, Any]:
    """Validate ``options`` for a solver; return them complete, defaults filled, values coerced.

    Raises
    ------
    InvalidOptionError
        Naming, for every bad option, the solver, the option, the value received and what was
        expected (unknown names list the solver's options).
    """
    model = options_model(func, solver)
    try:
        checked = model.model_validate(options)
    except ValidationError as err:
        allowed = ", ".join(model.model_fields) or "none"
        problems = []
        for e in err.errors():
            opt = ".".join(str(p) for p in e["loc"]) or "options"
            if e["type"] == "extra_forbidden":
                problems.append(f"solver {solver!r} takes no option {opt!r}; its options: {allowed}")
                continue
            msg = e["msg"].removeprefix("Value error, ")
            problems.append(f"solver {solver!r}, option {opt}: {msg} (got {e.get('input')!r})")
        raise InvalidOptionError("; ".join(problems)) from None
    return {name: getattr(checked, name) for name in model.model_fields}
