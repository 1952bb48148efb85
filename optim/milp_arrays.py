"""A MILP as arrays, built with numpy and handed to HiGHS without a model file.

Pyomo builds a model component by component in Python and the backends read it back from an LP
file: on the BPRR MILP of geo-world-40 (583k variables) that is 134 s before the search starts,
against about 4 s for the same matrix built with numpy (issue 14's measurement). The exact models
(:mod:`optim.solvers.bprr_milp`) keep their Pyomo formulation as the readable reference, which the
tests check this one against on small instances, and build large models with :class:`MILPBuilder`.

HiGHS takes the arrays directly (``Highs.passModel`` with a ``HighsLp`` in compressed sparse
column form); OR-Tools reads the MPS file HiGHS writes from them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class ArrayMILP:
    """``min cost @ x`` subject to ``row_lower <= A x <= row_upper``, ``col_lower <= x <= col_upper``,
    ``x[integer]`` integral; A as COO triplets.

    Attributes
    ----------
    cost, col_lower, col_upper : ndarray of float, shape (n,)
    integer : ndarray of bool, shape (n,)
    rows, cols : ndarray of int, shape (nnz,)
    vals : ndarray of float, shape (nnz,)
    row_lower, row_upper : ndarray of float, shape (m,)
    """

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray

    @property
    def num_columns(self) -> int:
        return int(self.cost.size)

    @property
    def num_rows(self) -> int:
        return int(self.row_lower.size)

    def column_names(self) -> list[str]:
        """Plain labels ``x0, x1, ...``: what the backends report values under."""
        return [f"x{i}" for i in range(self.num_columns)]

    def to_highs_lp(self) -> Any:
        """The model as a ``highspy.HighsLp`` (CSC matrix, column names ``x0, x1, ...``)."""
        import highspy
        from scipy import sparse

        A = sparse.csc_matrix((self.vals, (self.rows, self.cols)), shape=(self.num_rows, self.num_columns))
        A.sum_duplicates()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.num_columns, self.num_rows
        lp.col_cost_ = self.cost.astype(float)
        lp.col_lower_, lp.col_upper_ = self.col_lower.astype(float), self.col_upper.astype(float)
        lp.row_lower_, lp.row_upper_ = self.row_lower.astype(float), self.row_upper.astype(float)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = A.indptr.astype(np.int32)
        lp.a_matrix_.index_ = A.indices.astype(np.int32)
        lp.a_matrix_.value_ = A.data.astype(float)
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in self.integer]
        lp.col_names_ = self.column_names()
        return lp

    def fix_by_reduced_costs(self, values: np.ndarray, reduced_costs: np.ndarray, incumbent: float,
                             bound: float) -> tuple["ArrayMILP", int]:
        """The model with every integer column that no solution better than ``incumbent`` can use
        fixed to 0 (reduced-cost fixing), and how many were fixed.

        A minimisation's LP optimum ``bound`` with reduced costs ``d`` gives, for any feasible x,
        ``c x >= bound + sum_j d_j (x_j - lb_j)`` over the columns at their lower bound 0. An integer
        column at 0 in the LP with ``d_j > incumbent - bound`` would, at 1 or more, push ``c x`` above
        the incumbent: in a better solution it is 0. So the optimum is the incumbent or lies in the
        fixed model, and min(incumbent, the fixed model's bound) is a valid bound on the original.
        """
        gap = incumbent - bound
        fix = self.integer & (self.col_lower == 0) & (values <= 1e-9) & (reduced_costs > gap + 1e-9 * max(1.0, abs(gap)))
        upper = self.col_upper.copy()
        upper[fix] = 0.0
        out = ArrayMILP(**{**self.__dict__, "col_upper": upper})
        return out, int(fix.sum())

    def write_mps(self, path: str) -> str:
        """Write the model as an MPS file (through HiGHS); return the path."""
        import highspy

        from .backends import native_stdout_silenced

        with native_stdout_silenced():
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
            h.passModel(self.to_highs_lp())
            h.writeModel(path)
        return path


@dataclass
class MILPBuilder:
    """Collects column blocks and row blocks as arrays; :meth:`build` gives the :class:`ArrayMILP`.

    Examples
    --------
    >>> import numpy as np
    >>> b = MILPBuilder()
    >>> x = b.add_columns(2, lower=0, upper=1, integer=True, cost=[-1.0, -2.0])
    >>> b.add_rows(np.array([0, 0]), x + np.array([0, 1]), np.array([1.0, 1.0]), upper=[1.0])
    array([0])
    >>> m = b.build()
    >>> m.num_columns, m.num_rows
    (2, 1)
    """

    _cols: list = field(default_factory=list)
    _rows: list = field(default_factory=list)
    _n: int = 0
    _m: int = 0

    def add_columns(self, n: int, lower: Any = 0.0, upper: Any = np.inf, integer: bool | np.ndarray = False,
                    cost: Any = 0.0) -> np.ndarray:
        """Add n columns; return their indices, shape (n,). Scalars broadcast."""
        n = int(n)
        full = lambda v: np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()  # noqa: E731
        self._cols.append((full(lower), full(upper), np.broadcast_to(np.asarray(integer, dtype=bool), (n,)).copy(),
                           full(cost)))
        idx = np.arange(self._n, self._n + n)
        self._n += n
        return idx

    def add_rows(self, row: np.ndarray, col: np.ndarray, val: np.ndarray, lower: Any = -np.inf,
                 upper: Any = np.inf, num_rows: int | None = None) -> np.ndarray:
        """Add rows given as triplets with local row numbers 0..k-1; return their global indices.

        ``num_rows`` (default: the largest local row + 1) allows empty rows; bounds broadcast.
        """
        row = np.asarray(row, dtype=np.int64)
        k = int(num_rows if num_rows is not None else (row.max() + 1 if row.size else 0))
        bound = lambda v: np.broadcast_to(np.asarray(v, dtype=float), (k,)).copy()  # noqa: E731
        self._rows.append((row + self._m, np.asarray(col, dtype=np.int64), np.asarray(val, dtype=float),
                           bound(lower), bound(upper)))
        idx = np.arange(self._m, self._m + k)
        self._m += k
        return idx

    def build(self) -> ArrayMILP:
        cat = lambda parts, i, dt: (np.concatenate([p[i] for p in parts]).astype(dt) if parts  # noqa: E731
                                    else np.zeros(0, dtype=dt))
        return ArrayMILP(cost=cat(self._cols, 3, float), col_lower=cat(self._cols, 0, float),
                         col_upper=cat(self._cols, 1, float), integer=cat(self._cols, 2, bool),
                         rows=cat(self._rows, 0, np.int64), cols=cat(self._rows, 1, np.int64),
                         vals=cat(self._rows, 2, float), row_lower=cat(self._rows, 3, float),
                         row_upper=cat(self._rows, 4, float))
