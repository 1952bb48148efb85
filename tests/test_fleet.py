"""Fleet files: GPUs, cities and clients become a valid instance (issue 16, item 1)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from optim.cli import main
from optim.errors import InvalidInstanceError
from optim.fleet import Fleet, fleet_from_dict, fleet_instance, read_fleet
from optim.generators.geo import city_rtt_ms, city_table, great_circle_km

from conftest import INSTANCES, solve_and_validate

EXAMPLE = INSTANCES / "fleet-example.yaml"


def _city(name: str) -> int:
    return next(i for i, c in enumerate(city_table()) if c["city"] == name)


def _fleet(**kw) -> Fleet:
    data = {"model": {"card": "llama-2-70b", "dtype": "nf4"},
            "servers": [{"gpu": "A100-80GB", "city": "Frankfurt"}, {"gpu": "L4", "count": 2, "city": "Paris"}],
            "clients": [{"city": "London", "arrival_rate_per_s": 0.1}]}
    data.update(kw)
    return fleet_from_dict(data)


def test_example_fleet_is_twelve_mixed_gpus_that_solve():
    fleet, digest = read_fleet(EXAMPLE)
    inst = fleet_instance(fleet, source=str(EXAMPLE), sha256=digest)
    assert inst.num_servers == 12
    assert len({s.gpu for s in inst.servers}) == 7
    assert inst.provenance["fleet_sha256"] == digest and len(digest) == 64
    for solver in ("cg-bprr", "petals", "gbp-cr"):
        sol, ev = solve_and_validate(inst, solver)
        assert ev is not None, sol.message


def test_rtts_are_the_measured_city_matrix():
    inst = fleet_instance(_fleet())
    sym, _ = city_rtt_ms()
    ids = [c.id for c in inst.clients] + [s.id for s in inst.servers]
    rtt = np.asarray(inst.rtt.rtt_ms)
    i, j, k = ids.index("c0"), ids.index("A100-80GB-frankfurt"), ids.index("L4-paris-1")
    assert rtt[i, j] == pytest.approx(sym[_city("London"), _city("Frankfurt")], abs=1e-3)
    assert rtt[j, k] == pytest.approx(sym[_city("Frankfurt"), _city("Paris")], abs=1e-3)
    assert rtt[k, ids.index("L4-paris-2")] == 1.0  # two servers in one city: intra_city_rtt_ms


def test_coordinates_get_the_nearest_measured_city_and_the_substitution_is_recorded():
    bologna = (44.49, 11.34)
    inst = fleet_instance(_fleet(servers=[{"id": "home", "gpu": "A100-80GB", "latitude": bologna[0],
                                           "longitude": bologna[1]}]))
    cities = city_table()
    d = [float(great_circle_km(*bologna, c["latitude"], c["longitude"])) for c in cities]
    nearest = int(np.argmin(d))
    (sub,) = inst.provenance["nearest_measured_city"]
    assert sub["endpoint"] == "servers[0]"
    assert sub["measured_city"].startswith(cities[nearest]["city"])
    assert sub["distance_km"] == pytest.approx(d[nearest], abs=0.1)
    sym, _ = city_rtt_ms()
    assert inst.rtt.rtt_ms[0][1] == pytest.approx(sym[_city("London"), nearest], abs=1e-3)


def test_times_and_memory_come_from_the_gpu_profile_and_multi_gpu_servers_are_tp_groups():
    from optim.gpu import block_times, get_gpu
    from optim.modelcard import load_model_card

    inst = fleet_instance(_fleet(servers=[{"gpu": "L4", "city": "Paris"},
                                          {"id": "big", "gpu": "A100-80GB", "gpu_count": 2, "city": "Paris",
                                           "interconnect": "nvlink"}]))
    l4, big = inst.servers
    t = block_times(get_gpu("L4"), load_model_card("llama-2-70b"), "nf4")
    assert l4.decode_ms_per_block_per_token == pytest.approx(t.decode_s_per_token * 1e3, rel=1e-6)
    assert l4.memory_gb == pytest.approx(get_gpu("L4").memory_bytes / 1e9, rel=1e-6)
    assert l4.batching == "none"  # PETALS' servers run one session's step at a time
    assert big.gpu_count == 2 and big.tp == 2
    assert big.memory_gb == pytest.approx(2 * get_gpu("A100-80GB").memory_bytes / 1e9, rel=1e-6)


def test_user_gpu_profile_from_the_fleet_and_from_a_file(tmp_path):
    prof = {"name": "MI300X", "memory_gib": 192, "fp16_tflops": 1307, "memory_bandwidth_gb_per_s": 5300,
            "tier": "high", "source": "AMD MI300X datasheet"}
    inst = fleet_instance(_fleet(servers=[{"gpu": "MI300X", "city": "Paris"}], gpu_profiles=[prof]))
    assert inst.servers[0].memory_gb == pytest.approx(192 * 2**30 / 1e9, rel=1e-6)
    assert inst.provenance["gpu_profiles"] == {"MI300X": "AMD MI300X datasheet"}
    fleet_file = tmp_path / "f.yaml"
    fleet_file.write_text("model: {card: llama-2-70b}\nservers: [{gpu: MI300X, city: Paris}]\n"
                          "clients: [{city: Paris, arrival_rate_per_s: 0.1}]\n")
    profiles = tmp_path / "gpus.yaml"
    profiles.write_text(json.dumps({"profiles": [prof]}))
    r = CliRunner().invoke(main, ["fleet", str(fleet_file), "--gpu-profiles", str(profiles)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["servers"][0]["gpu"] == "MI300X"


def test_csv_fleet_equals_the_yaml_one(tmp_path):
    csv_file = tmp_path / "fleet.csv"
    csv_file.write_text("kind,id,gpu,count,city,latitude,longitude,arrival_rate_per_s\n"
                        "server,,A100-80GB,,Frankfurt,,,\n"
                        "server,,L4,2,Paris,,,\n"
                        "client,c0,,,London,,,0.1\n")
    fleet, _ = read_fleet(csv_file, overrides={"card": "llama-2-70b", "dtype": "nf4"})
    a, b = fleet_instance(fleet), fleet_instance(_fleet())
    assert a.servers == b.servers and a.clients == b.clients and a.rtt == b.rtt


def test_csv_fleet_names_every_bad_line_in_file_order(tmp_path):
    f = tmp_path / "fleet.csv"
    f.write_text("kind,gpu,count,city,arrival_rate_per_s\n"
                 "server,A100-80GB,two,Paris,\n"
                 "widget,,,,\n"
                 "client,,,Frankfurt,abc\n")
    with pytest.raises(InvalidInstanceError) as err:
        read_fleet(f, overrides={"card": "llama-2-70b"})
    text = str(err.value)
    assert "3 problems" in text
    assert text.index("line 2.count") < text.index("line 3: kind 'widget'") < text.index("line 4.arrival_rate_per_s")


@pytest.mark.parametrize("servers, expected", [
    ([{"gpu": "A100-80GB", "city": "Frankfurtt"}], "servers[0].city: 'Frankfurtt' is not a measured city; did you mean 'Frankfurt'"),
    ([{"gpu": "A100-80G", "city": "Paris"}], "servers[0].gpu: unknown GPU profile 'A100-80G'; did you mean 'A100-80GB'"),
    ([{"gpu": "A100-80GB", "latitude": 10}], "latitude and longitude: give both or neither"),
    ([{"gpu": "A100-80GB"}], "give a city, or latitude and longitude"),
    ([{"gpu": "A100-80GB", "city": "Paris", "gpu_count": 4, "tp_degree": 3}], "tp_degree: 3 does not divide gpu_count 4"),
    ([{"id": "x", "gpu": "L4", "city": "Paris"}, {"id": "x", "gpu": "L4", "city": "Paris"}], "id: 'x' is used by 2"),
])
def test_bad_fleets_name_the_field_and_the_reason(servers, expected):
    with pytest.raises(InvalidInstanceError) as e:
        fleet_instance(_fleet(servers=servers))
    assert "servers[" in str(e.value) or "id:" in str(e.value)
    assert expected in str(e.value)


def test_cli_bad_fleet_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("kind,gpu,city,arrival_rate_per_s\nserver,L4,Paris,\nclient,,London,-1\n")
    r = CliRunner().invoke(main, ["fleet", str(bad), "--model", "llama-2-70b"])
    assert r.exit_code == 2
    assert "line 3.arrival_rate_per_s" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["fleet", str(bad)])
    assert r.exit_code == 2 and "model: Field required" in r.output


def test_cli_fleet_writes_the_instance_and_says_what_it_substituted(tmp_path):
    out = tmp_path / "fleet.json"
    r = CliRunner().invoke(main, ["fleet", str(EXAMPLE), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "nearest measured city" in r.output
    r = CliRunner().invoke(main, ["solve", str(out)])
    assert r.exit_code == 0 and "status: feasible" in r.output


def test_unknown_model_card_is_named_as_the_model_field():
    with pytest.raises(InvalidInstanceError, match=r"model.card: unknown model 'nosuch'; shipped model cards"):
        fleet_instance(_fleet(model={"card": "nosuch"}))
