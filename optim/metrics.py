"""Metrics, defined once: name, unit, direction (lower or higher is better), label and meaning.

Everything that ranks, compares or plots results (``optim bench report``, the Pareto tools) looks a
metric up here, so a throughput is never ranked as if lower were better. Adding a metric is one
entry in :data:`METRICS`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Metric:
    """A column of the results: its unit, whether lower or higher is better, and what it is.

    Parameters
    ----------
    name : str
        Column name (its unit is in the name, as in every optim file).
    unit : str
        Unit in words, for axis labels ("s", "1/s", "" for a ratio).
    sense : {"min", "max"}
        Whether lower (``min``) or higher (``max``) values are better.
    label : str
        Short description in words, for tables and plot axes.
    doc : str
        Where the value comes from.
    """

    name: str
    unit: str
    sense: Literal["min", "max"]
    label: str
    doc: str

    @property
    def higher_is_better(self) -> bool:
        return self.sense == "max"

    @property
    def axis_label(self) -> str:
        """``label (unit)``, for plots."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("mean_inference_time_s", "s", "min", "mean inference time",
           "the |R| concurrent requests' mean time, cache waiting included (validator, BPRR model)"),
    Metric("mean_inference_time_no_wait_s", "s", "min", "mean inference time without waiting",
           "arrival-rate-weighted mean of the paths' inference times (BPRR model, arXiv 2512.21884 Sec. 2)"),
    Metric("mean_decode_time_per_token_s", "s", "min", "mean decode time per token",
           "the BPRR objective (arXiv 2512.21884 Eq. 13a)"),
    Metric("nu_per_s", "1/s", "max", "total service rate nu",
           "sum over the chains of c_k / T_k (arXiv 2604.14993 Sec. 3)"),
    Metric("rho", "", "min", "load rho = lambda / nu", "arrival rate over total service rate"),
    Metric("response_time_lower_s", "s", "min", "mean response time, Theorem-4 lower bound",
           "JFFC lower bound (arXiv 2604.14993 Theorem 4)"),
    Metric("response_time_upper_s", "s", "min", "mean response time, Theorem-4 upper bound",
           "JFFC upper bound (arXiv 2604.14993 Theorem 4)"),
    Metric("sim_mean_response_s", "s", "min", "simulated mean response time", "optim.simulate"),
    Metric("sim_p95_response_s", "s", "min", "simulated P95 response time", "optim.simulate"),
    Metric("solve_time_s", "s", "min", "solve time", "wall-clock time of the solver call"),
    Metric("servers_used", "servers", "min", "servers used", "servers that host at least one block"),
    Metric("throughput_tokens_per_s", "tokens/s", "max", "throughput", "max flow through the placement (Helix)"),
)}


def get_metric(name: str) -> Metric:
    """Look up a metric.

    Raises
    ------
    InvalidOptionError
        Unknown name; the message lists the metrics.
    """
    from .errors import InvalidOptionError

    if name not in METRICS:
        raise InvalidOptionError(f"metric: {name!r} is not a known metric; expected one of {', '.join(METRICS)}")
    return METRICS[name]
