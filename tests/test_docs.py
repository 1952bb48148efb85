"""The API reference builds from the docstrings without a warning (mkdocs --strict)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_builds_strict(tmp_path):
    if shutil.which("mkdocs") is None and not (Path(sys.executable).parent / "mkdocs").exists():
        pytest.fail("mkdocs is not installed: install the test extra, pip install '.[test]'")
    exe = str(Path(sys.executable).parent / "mkdocs") if (Path(sys.executable).parent / "mkdocs").exists() else "mkdocs"
    r = subprocess.run([exe, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    page = (tmp_path / "site" / "api" / "solvers" / "index.html").read_text()
    assert "has_solution" in page and "InvalidOptionError" in page


def test_every_public_module_has_a_reference_page():
    pages = "".join(p.read_text() for p in (ROOT / "docs" / "api").glob("*.md"))
    for module in ("optim.instance", "optim.solvers.base.solve", "optim.validate.evaluate", "optim.simulate.simulate",
                   "optim.backends", "optim.options", "optim.metrics", "optim.bench", "optim.errors",
                   "optim.perf.parallelism", "optim.configure", "optim.chain_selection", "optim.fleet", "optim.export", "optim.petals_import", "optim.replan", "optim.churn"):
        assert f"::: {module}" in pages


def test_readme_instance_example_is_valid_feasible_and_solves():
    """The instance in the README's format section is a real one: it loads, it is feasible, and
    every heuristic solves it (an infeasible example, BLOOM-176B on one 80 GB GPU, was reported)."""
    import json
    import re

    from optim import evaluate, instance_from_dict, solve

    text = (ROOT / "README.md").read_text()
    inst = instance_from_dict(json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1)))
    for name in ("cg-bprr", "petals", "gbp-cr"):
        sol = solve(inst, name)
        assert sol.has_solution, (name, sol.message)
        assert evaluate(inst, sol).feasible
