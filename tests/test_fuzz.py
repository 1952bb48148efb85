"""Fuzz: mutated shipped instances, solutions and sweep specifications, through every command.

A seeded mutator changes one value at a random place of a document (a number to a negative, huge,
zero, NaN-like or wrong-typed value, a string to markup or an empty string, a list emptied or
cut, a key deleted or added). Every run must end in exit 0, 1 or 2, never in a traceback
(exit 3) or a hang (a 60 s alarm per run).
"""
from __future__ import annotations

import copy
import json
import random
import signal
from contextlib import contextmanager

import pytest
from click.testing import CliRunner

from optim.cli import main

from conftest import INSTANCES

REPLACEMENTS = [-1, 0, 1e300, -1e300, 2**64, "abc", "", "[/]", None, [], {}, True, 1e-300, 10**7, "NaN", 3.5]


def _places(doc, path=()):
    yield path
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _places(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:6]):  # the first entries are enough and keep the walk short
            yield from _places(v, (*path, i))


def mutate(doc, rng: random.Random):
    """One random mutation of a JSON-like document (a deep copy)."""
    doc = copy.deepcopy(doc)
    places = [p for p in _places(doc) if p]
    path = rng.choice(places)
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    action = rng.random()
    if action < 0.15 and isinstance(parent, dict):
        del parent[key]
    elif action < 0.25 and isinstance(parent[key], list):
        parent[key] = parent[key][: rng.randrange(len(parent[key]) + 1)]
    elif action < 0.3 and isinstance(parent, dict):
        parent["unexpected_field"] = 1
    else:
        parent[key] = rng.choice(REPLACEMENTS)
    return doc


@contextmanager
def alarm(seconds: int):
    def on_alarm(*_):
        raise TimeoutError(f"hung for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def invoke(args):
    with alarm(60):
        r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, r.output


def check(code, out, what):
    assert code in (0, 1, 2), f"{what}: exit {code}\n{out[-2000:]}"
    assert "Traceback" not in out and "internal error" not in out, f"{what}\n{out[-2000:]}"


def _fuzz(tmp_path, n: int, seed: int):
    rng = random.Random(seed)
    inst_doc = json.loads((INSTANCES / "bprr-clustered-9.json").read_text())
    inst_path = tmp_path / "inst.json"
    inst_path.write_text(json.dumps(inst_doc))
    code, out = invoke(["solve", inst_path, "--solver", "gbp-cr", "--output", tmp_path / "sol.json"])
    assert code == 0, out
    sol_doc = json.loads((tmp_path / "sol.json").read_text())
    sweep_doc = {"name": "fz", "instances": [{"generator": "random", "params": {"servers": 6}, "seeds": [0]}],
                 "solvers": [{"name": "cg-bprr"}, {"name": "petals", "options": {"seed": 1}}],
                 "simulate": {"requests": 50, "policy": "jffc"}}
    for i in range(n):
        kind = rng.choice(["solve", "evaluate", "simulate", "bench"])
        if kind == "solve":
            p = tmp_path / f"m{i}.json"
            p.write_text(json.dumps(mutate(inst_doc, rng)))
            args = ["solve", p, "--solver", rng.choice(["cg-bprr", "petals", "gbp-cr"])]
        elif kind in ("evaluate", "simulate"):
            p = tmp_path / f"s{i}.json"
            p.write_text(json.dumps(mutate(sol_doc, rng)))
            args = [kind, inst_path, p] + (["--requests", 60, "--replications", 1] if kind == "simulate" else [])
        else:
            p = tmp_path / f"w{i}.json"
            p.write_text(json.dumps(mutate(sweep_doc, rng)))
            args = ["bench", p, "--output", tmp_path / f"r{i}.csv"]
        code, out = invoke(args)
        check(code, out, f"case {i}: {kind} with {p.read_text()[:400]}")


def test_fuzz_quick(tmp_path):
    _fuzz(tmp_path, 25, seed=0)


@pytest.mark.slow
def test_fuzz_many(tmp_path):
    for seed in (1, 2, 3):
        _fuzz(tmp_path, 60, seed=seed)
