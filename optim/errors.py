"""Exceptions raised by optim.

Bad input and bugs raise; an infeasible instance is a solver *status*, not an exception
(see :class:`optim.solution.Status`). Every message names what was wrong, the value received
and what was expected.
"""
from __future__ import annotations


class OptimError(Exception):
    """Root of every error optim raises on purpose."""


class InvalidInstanceError(OptimError, ValueError):
    """An instance (or solution) file is malformed or inconsistent.

    Parameters
    ----------
    problems : list of str
        One entry per problem, each ``"<field path>: <reason>"``.
    source : str, optional
        The file the data came from, named first in the message.
    """

    def __init__(self, problems: list[str] | str, source: str | None = None):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        if len(self.problems) == 1:
            msg = f"{head}invalid input: {self.problems[0]}"
        else:
            msg = f"{head}invalid input ({len(self.problems)} problems): " + "; ".join(self.problems)
        super().__init__(msg)


class UnknownModelError(InvalidInstanceError):
    """A model card name that is not shipped and not given inline."""


class UnknownGPUError(InvalidInstanceError):
    """A GPU profile name that optim does not know."""


class UnknownSolverError(OptimError, KeyError):
    """A solver name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class SolverUnavailableError(OptimError):
    """A registered solver whose backend cannot run on this machine."""


class InvalidOptionError(OptimError, ValueError):
    """A solver or generator option outside its allowed range."""


class UnstableSystemError(OptimError, ValueError):
    """Arrival rate at or above the service rate: no steady state exists.

    Parameters
    ----------
    message : str
    nu_per_s : float, optional
        The total service rate the arrival rate was compared with, jobs/s, where one was.
    """

    def __init__(self, message: str, *, nu_per_s: float | None = None):
        super().__init__(message)
        self.nu_per_s = nu_per_s
