import numpy as np
import pytest

from optim.dispatch import JFFC, JSQ, POLICIES, SED


def test_jffc_fills_fastest_first_then_queues_centrally():
    p = JFFC([1.0, 3.0], [1, 2])
    assert [p.arrive() for _ in range(4)] == [(1, True), (1, True), (0, True), (None, False)]
    assert p.waiting == 1
    assert p.complete(0) == 0 and p.waiting == 0  # head of the queue takes the freed slot
    assert p.complete(1) is None and p.busy.tolist() == [1, 1]


def test_jsq_balances_jobs_per_slot():
    p = JSQ([1.0, 3.0], [1, 1])
    assert [p.arrive() for _ in range(3)] == [(1, True), (0, True), (1, False)]  # ties go to the faster chain
    assert p.waiting == 1 and p.queued.tolist() == [0, 1]


def test_sed_queues_where_the_expected_delay_is_smallest():
    p = SED([1.0, 3.0], [1, 1])
    # second job: (1 + 1) / 3 = 0.67 s behind the fast chain beats 1 s on the idle slow one
    assert [p.arrive(), p.arrive()] == [(1, True), (1, False)]
    assert p.queued.tolist() == [0, 1]
    assert p.complete(1) == 1 and p.waiting == 0


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_conservation_under_random_events(name):
    rng = np.random.default_rng(0)
    p = POLICIES[name](rng.uniform(0.5, 2, 4), rng.integers(1, 4, 4))
    in_system = 0
    for _ in range(2000):
        if in_system == 0 or rng.random() < 0.5:
            p.arrive()
            in_system += 1
        else:
            k = int(rng.choice(np.flatnonzero(p.busy > 0)))
            p.complete(k)
            in_system -= 1
        assert np.all(p.busy <= p.cap) and np.all(p.busy >= 0)
        assert int(p.busy.sum()) + p.waiting == in_system
