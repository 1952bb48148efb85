"""optim export petals: one PETALS server command per server holding blocks."""
import json
import shlex

import pytest
from click.testing import CliRunner

from optim import load_instance, solve
from optim.cli import main
from optim.export import petals_commands

from conftest import INSTANCES


def test_petals_commands_carry_each_span_dtype_and_cache():
    inst = load_instance(INSTANCES / "geo-europe-20.json")
    sol = solve(inst, "cg-bprr")
    rows = petals_commands(inst, sol, ["/ip4/10.0.0.1/tcp/31337/p2p/QmX"])
    start, end, slots = sol.spans(inst)
    assert len(rows) == int((end > start).sum())
    for r in rows:
        argv = shlex.split(r["command"])
        assert argv[:4] == ["python", "-m", "petals.cli.run_server", "meta-llama/Llama-2-70b-hf"]
        a, b = (int(x) for x in argv[argv.index("--block_indices") + 1].split(":"))  # PETALS' start:end
        j = inst.server_index[r["server"]]
        assert (a, b) == (start[j], end[j])
        assert argv[argv.index("--quant_type") + 1] == "nf4"
        tokens = int(argv[argv.index("--attn_cache_tokens") + 1])
        assert tokens == (slots[j] // (b - a)) * (inst.workload.input_tokens_max + inst.workload.output_tokens_max)
        assert argv[-2:] == ["--initial_peers", "/ip4/10.0.0.1/tcp/31337/p2p/QmX"]
    # the servers' expected rates add up to the chains' total rate, counted once per hop
    q = __import__("optim").evaluate(inst, sol)
    hops = sum(ch["capacity"] * ch["rate_per_s"] * len(ch["servers"]) for ch in q.chains)
    assert sum(r["expected_requests_per_s"] for r in rows) == pytest.approx(hops)


def test_cli_export_petals(tmp_path):
    inst_file = INSTANCES / "bprr-clustered-9.json"
    out = tmp_path / "s.json"
    assert CliRunner().invoke(main, ["solve", str(inst_file), "-o", str(out)]).exit_code == 0
    r = CliRunner().invoke(main, ["export", "petals", str(inst_file), str(out), "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert rows and all("--block_indices" in row["argv"] for row in rows)
    other = tmp_path / "other.json"
    other.write_text((INSTANCES / "geo-europe-20.json").read_text())
    r = CliRunner().invoke(main, ["export", "petals", str(other), str(out)])
    assert r.exit_code == 2 and "Traceback" not in r.output
