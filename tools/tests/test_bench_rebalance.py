"""The rebalance bench's arithmetic: a stall is the longest consumption gap of a partition."""

from __future__ import annotations

from scifikpi_tools.bench.rebalance import _Stream


def _stream(rows: list[tuple[str, int, float, float, int]]) -> _Stream:
    """rows: (topic, partition, published_at, consumed_at, worker)."""
    s = _Stream()
    for seq, (topic, part, pub, cons, worker) in enumerate(rows, 1):
        s.published[seq] = (topic, part, pub)
        s.note(f"{cons} {seq}", worker)
    return s


def test_stall_is_the_longest_gap_from_the_signal_on() -> None:
    s = _stream(
        [
            ("t", 0, 9.9, 9.95, 0),
            ("t", 0, 10.1, 10.2, 0),  # 0.2 s after the kill at 10.0
            ("t", 0, 10.2, 14.2, 1),  # a 4 s hole: the rebalance
            ("t", 1, 10.1, 10.15, 1),
            ("t", 1, 10.2, 10.25, 1),
        ]
    )
    assert abs(s.stall(10.0, 20.0, set()) - 4.0) < 1e-9
    assert abs(s.stall(10.0, 20.0, {("t", 0)}) - 0.15) < 1e-9  # the survivors' partition


def test_first_consumption_wins_over_a_redelivery() -> None:
    s = _stream([("t", 0, 10.1, 10.2, 0)])
    s.note("30.0 1", 1)  # redelivered after the restart: not a new consumption
    assert s.consumed[1] == (10.2, 0)
    assert s.owners(11.0) == {("t", 0): 0}


def test_caught_up_needs_every_partition() -> None:
    s = _stream([("t", 0, 10.1, 10.2, 0), ("t", 1, 9.0, 9.1, 0)])
    assert not s.caught_up(10.0, partitions=2)
    assert s.caught_up(8.0, partitions=2)


def test_latencies_are_publish_to_first_consumption() -> None:
    s = _stream([("t", 0, 10.0, 10.05, 0), ("t", 1, 10.0, 10.02, 0), ("t", 1, 30.0, 30.5, 0)])
    assert [round(x) for x in s.latencies(9.0, 11.0)] == [20, 50]
