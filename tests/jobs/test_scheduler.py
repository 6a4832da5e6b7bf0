"""Fair queue and slot accounting, without any I/O."""

from __future__ import annotations

from bot.jobs.scheduler import Scheduler


def drain(s: Scheduler, service: str = "aimlapi") -> list[str]:
    started = []
    while (picked := s.pick(service)) is not None:
        job_id, user = picked
        s.occupy(job_id, service, user)
        started.append(job_id)
    return started


def test_limit_per_service() -> None:
    s = Scheduler({"aimlapi": 2, "elevenlabs": 1}, per_user_cap=10)
    for i in range(5):
        s.enqueue("aimlapi", i, f"a{i}")
        s.enqueue("elevenlabs", 10 + i, f"e{i}")
    assert drain(s) == ["a0", "a1"]
    assert drain(s, "elevenlabs") == ["e0"]
    s.release("a0")
    assert drain(s) == ["a2"]
    assert s.in_flight("aimlapi") == 2 and s.queued_count("aimlapi") == 2


def test_newcomer_is_served_before_a_heavy_user_backlog() -> None:
    s = Scheduler({"aimlapi": 4}, per_user_cap=10)
    for i in range(10):
        s.enqueue("aimlapi", 1, f"A{i}")
    assert drain(s) == ["A0", "A1", "A2", "A3"]
    s.enqueue("aimlapi", 2, "B0")
    assert s.positions("aimlapi")["B0"] == 1
    s.release("A0")
    assert drain(s) == ["B0"]


def test_round_robin_among_waiting_users() -> None:
    s = Scheduler({"aimlapi": 1}, per_user_cap=10)
    for i in range(3):
        s.enqueue("aimlapi", 1, f"A{i}")
    for i in range(3):
        s.enqueue("aimlapi", 2, f"B{i}")
    s.enqueue("aimlapi", 3, "C0")
    projected = list(s.positions("aimlapi"))
    order = []
    for _ in range(7):
        (job,) = drain(s)
        order.append(job)
        s.release(job)
    assert order == ["A0", "B0", "C0", "A1", "B1", "A2", "B2"]
    assert projected == order


def test_per_user_cap_holds_back_only_that_user() -> None:
    s = Scheduler({"aimlapi": 4}, per_user_cap=2)
    for i in range(5):
        s.enqueue("aimlapi", 1, f"A{i}")
    s.enqueue("aimlapi", 2, "B0")
    started = drain(s)
    assert sorted(started) == ["A0", "A1", "B0"]
    assert s.user_in_flight(1) == 2
    s.release("A0")
    assert drain(s) == ["A2"]


def test_cap_counts_jobs_of_every_service() -> None:
    s = Scheduler({"aimlapi": 4, "elevenlabs": 2}, per_user_cap=2)
    s.enqueue("elevenlabs", 1, "E0")
    s.enqueue("aimlapi", 1, "A0")
    s.enqueue("aimlapi", 1, "A1")
    assert drain(s, "elevenlabs") == ["E0"]
    assert drain(s) == ["A0"]
    assert s.queued_count("aimlapi") == 1


def test_remove_and_release_are_idempotent() -> None:
    s = Scheduler({"aimlapi": 1}, per_user_cap=1)
    s.enqueue("aimlapi", 1, "A0")
    assert s.remove("A0") and not s.remove("A0")
    s.occupy("X", "aimlapi", 1)
    assert s.release("X") and not s.release("X")
    assert s.in_flight("aimlapi") == 0 and s.user_in_flight(1) == 0


def test_a_job_that_moves_routes_takes_its_slot_to_the_new_pool() -> None:
    s = Scheduler({"aimlapi": 1, "elevenlabs": 1}, per_user_cap=10)
    s.enqueue("aimlapi", 1, "a0")
    s.enqueue("aimlapi", 2, "a1")
    assert drain(s) == ["a0"]
    assert s.move("a0", "elevenlabs") == "aimlapi"  # the pool it left
    assert s.move("a0", "elevenlabs") is None  # already there
    assert (s.in_flight("aimlapi"), s.in_flight("elevenlabs")) == (0, 1)
    assert not s.has_room("elevenlabs", 3) and s.has_room("aimlapi", 3)
    assert drain(s) == ["a1"]  # the freed AI/ML API slot is usable at once
    s.release("a0")
    assert s.in_flight("elevenlabs") == 0 and s.has_room("elevenlabs", 3)


def test_has_room_respects_the_per_user_cap() -> None:
    s = Scheduler({"aimlapi": 5, "elevenlabs": 5}, per_user_cap=1)
    s.enqueue("aimlapi", 1, "a0")
    assert drain(s) == ["a0"]
    assert not s.has_room("elevenlabs", 1) and s.has_room("elevenlabs", 2)
