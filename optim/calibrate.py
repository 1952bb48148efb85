"""Calibration: fit a GPU profile's per-block times to measured requests by least squares.

Measurements are a CSV file, one row per measured request (or per measured forward pass) on one
server, with the columns

=================  =====================================================================
``blocks``         blocks the server ran for the request (k, a positive integer)
``input_tokens``   prompt length l_in (the prefill's tokens)
``output_tokens``  tokens generated l_out (1 for a prefill alone)
``time_s``         measured wall time of the request on that server, seconds
=================  =====================================================================

an optional ``concurrent_sessions`` column (sessions sharing the server's GPU while the request ran,
1 when absent), and any other columns, which are kept but ignored. The model is the per-block compute time of the
one request-time model (:mod:`optim.perf.chains`; arXiv 2604.14993, Sec. 5; arXiv 2512.21884,
Sec. 2) plus a per-request constant for what does not scale with blocks (communication, framework
overhead)::

    time_s = fixed_s + k (t_o + t^I l_in + t^O (l_out - 1)) [+ k (l_out - 1) (n - 1) c]

with ``t_o`` the fixed prefill time per block, ``t^I`` the prefill time per block per input token,
``t^O`` the decode time per block per token (``prefill_ms_per_block``,
``prefill_ms_per_block_per_token``, ``decode_ms_per_block_per_token`` of an instance's server).
With ``concurrent_sessions`` n varying, the contention constant ``c`` is fitted too: what each other
session sharing the GPU adds to a decode step, per block (:mod:`optim.perf.batching`: about tau
for a server that runs one step at a time, about the KV read kappa for continuous batching).
The fit is linear least squares with the coefficients kept non-negative (scipy's
``lsq_linear``); 95% confidence half-widths come from the residual variance and ``(X^T X)^-1``
with Student's t (of the unconstrained problem, exact when no bound is active).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidInstanceError

MEASUREMENT_COLUMNS = ("blocks", "input_tokens", "output_tokens", "time_s")
COEFFICIENTS = ("fixed_s", "prefill_s_per_block", "prefill_s_per_block_per_token", "decode_s_per_block_per_token")
#: the contention constant, fitted when the measurements have ``concurrent_sessions`` above 1
CONTENTION = "contention_s_per_block_per_token_per_session"


@dataclass
class Calibration:
    """Fitted constants (seconds), their 95% confidence half-widths, and the fit's residuals.

    ``values`` and ``ci95`` map each name of :data:`COEFFICIENTS` to seconds; ``residuals_s`` has
    shape (n,), measured minus predicted.
    """

    values: dict[str, float]
    ci95: dict[str, float | None]
    residuals_s: np.ndarray = field(repr=False)
    n: int = 0
    rms_residual_s: float = 0.0
    max_abs_residual_s: float = 0.0
    r2: float = 0.0

    def measured_times(self, model: str, dtype: str) -> dict[str, Any]:
        """The ``measured`` entry of a GPU profile (``optim/data/gpus.json``), in milliseconds."""
        v = self.values
        return {"model": model, "dtype": dtype, "prefill_ms_per_block": round(v["prefill_s_per_block"] * 1e3, 6),
                "prefill_ms_per_block_per_token": round(v["prefill_s_per_block_per_token"] * 1e3, 9),
                "decode_ms_per_block_per_token": round(v["decode_s_per_block_per_token"] * 1e3, 6)}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["residuals_s"] = self.residuals_s.tolist()
        return d


def read_measurements(path: str | Path):
    """Read a measurement CSV (see the module docstring) as a pandas DataFrame.

    Raises
    ------
    InvalidInstanceError
        The file cannot be read, lacks a column, or holds a value that is not a finite number in
        range (blocks >= 1, input_tokens >= 0, output_tokens >= 1, time_s > 0); the message names the
        row and the column.
    """
    import io

    import pandas as pd

    from .instance import decode_text, read_text_file

    p = Path(path)
    text = decode_text(read_text_file(p, "measurement CSV"), str(p))
    try:
        df = pd.read_csv(io.StringIO(text))
    except Exception as err:  # noqa: BLE001  (pandas raises many kinds for a malformed CSV)
        raise InvalidInstanceError(f"not a readable CSV: {err}", str(p)) from None
    missing = [c for c in MEASUREMENT_COLUMNS if c not in df.columns]
    if missing:
        raise InvalidInstanceError(f"columns {missing} missing; expected {', '.join(MEASUREMENT_COLUMNS)}", str(p))
    limits = {"blocks": (1, 1e6), "input_tokens": (0, 1e8), "output_tokens": (1, 1e8), "time_s": (0, 1e9)}
    if "concurrent_sessions" in df.columns:
        limits["concurrent_sessions"] = (1, 1e6)
    problems = []
    for col, (lo, hi) in limits.items():
        x = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(x) | (x < lo) | (x > hi) | ((x <= 0) if col == "time_s" else False)
        for r in np.flatnonzero(bad).tolist():  # row numbers as in the file: line 1 is the header
            v = df[col].iloc[r]
            v = v.item() if isinstance(v, np.generic) else v  # the value as written, not np.int64(...)
            problems.append((r, f"row {r + 2}, column {col}: {v!r}; expected a number "
                                f"from {lo:g}{' (exclusive)' if col == 'time_s' else ''} to {hi:g}"))
        df[col] = x
    if problems:
        problems.sort(key=lambda rp: rp[0])
        more = f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise InvalidInstanceError(f"{len(problems)} bad value{'s' if len(problems) > 1 else ''}: "
                                   + "; ".join(m for _, m in problems[:10]) + more, str(p))
    if len(df) < len(COEFFICIENTS) + 1:
        raise InvalidInstanceError(f"{len(df)} measurements; expected at least {len(COEFFICIENTS) + 1} to fit "
                                   f"{len(COEFFICIENTS)} constants with a residual", str(p))
    return df


def calibrate(blocks, input_tokens, output_tokens, time_s, concurrent_sessions=None) -> Calibration:
    """Fit ``time_s = fixed_s + k (t_o + t^I l_in + t^O (l_out - 1)) [+ k (l_out - 1) (n - 1) c]`` by
    non-negative least squares.

    Parameters
    ----------
    blocks, input_tokens, output_tokens, time_s : array_like, shape (n,)
        Blocks run, prompt length, tokens generated, measured seconds, per measurement.
    concurrent_sessions : array_like, shape (n,), optional
        Sessions sharing the GPU during each measurement; when some exceed 1, the contention
        constant :data:`CONTENTION` is fitted as well.

    Returns
    -------
    Calibration

    Raises
    ------
    InvalidOptionError
        The measurements cannot separate the constants (e.g. every request of one length): the
        design matrix is rank-deficient; the message says which variation is missing.

    Examples
    --------
    >>> import numpy as np
    >>> from optim.calibrate import calibrate
    >>> k = np.array([10, 20, 40, 10, 20, 40, 30]); l_in = np.array([100, 500, 2000, 800, 50, 1200, 300])
    >>> l_out = np.array([1, 20, 5, 64, 128, 1, 32])
    >>> t = 0.05 + k * (0.002 + 1e-5 * l_in + 0.004 * (l_out - 1))
    >>> fit = calibrate(k, l_in, l_out, t)
    >>> {n: round(v, 6) for n, v in fit.values.items()}
    {'fixed_s': 0.05, 'prefill_s_per_block': 0.002, 'prefill_s_per_block_per_token': 1e-05, 'decode_s_per_block_per_token': 0.004}
    """
    from scipy import stats
    from scipy.optimize import lsq_linear

    from .errors import InvalidOptionError

    k = np.asarray(blocks, dtype=float)
    l_in = np.asarray(input_tokens, dtype=float)
    steps = np.asarray(output_tokens, dtype=float) - 1.0
    y = np.asarray(time_s, dtype=float)
    names = list(COEFFICIENTS)
    X = np.column_stack([np.ones_like(k), k, k * l_in, k * steps])
    if concurrent_sessions is not None and np.any(np.asarray(concurrent_sessions, dtype=float) > 1):
        names.append(CONTENTION)
        X = np.column_stack([X, k * steps * (np.asarray(concurrent_sessions, dtype=float) - 1.0)])
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        raise InvalidOptionError(
            "measurements: the constants cannot be told apart (rank "
            f"{rank} of {X.shape[1]}); expected requests with several block counts, input lengths and output lengths"
            + (" (and, for contention, several session counts)" if X.shape[1] > len(COEFFICIENTS) else ""))
    scale = np.abs(X).max(axis=0)  # column scaling for a well-conditioned fit
    res = lsq_linear(X / scale, y, bounds=(0, np.inf), method="bvls", lsmr_tol="auto")
    beta = res.x / scale
    resid = y - X @ beta
    n, p = X.shape
    dof = n - p
    sigma2 = float(resid @ resid) / dof if dof > 0 else float("nan")
    try:
        cov = sigma2 * np.linalg.inv(X.T @ X)
        half = stats.t.ppf(0.975, dof) * np.sqrt(np.maximum(np.diag(cov), 0.0)) if dof > 0 else [None] * p
    except np.linalg.LinAlgError:
        half = [None] * p
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return Calibration(values={c: float(b) for c, b in zip(names, beta)},
                       ci95={c: (None if h is None else float(h)) for c, h in zip(names, half)},
                       residuals_s=resid, n=n, rms_residual_s=float(np.sqrt(np.mean(resid ** 2))),
                       max_abs_residual_s=float(np.max(np.abs(resid))),
                       r2=1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else 1.0)
