"""The poll schedule and the account rate shared between shards, as pure decisions (issue #13):
when a task is looked at given what was learnt, and which part of an account's create rate each
of N applies takes. No clock is involved: ages are given. The behaviour over HTTP is in
test_apply_polling.py and test_apply_shard_rate.py."""

from __future__ import annotations

import asyncio

import pytest

from seedflow.apply.pacing import PollSchedule, RateLimiter, RateShare, apportion, shared_rate
from seedflow.apply.runtime import rate_share, settings_from_env


def test_nothing_learnt_a_few_tasks_scout_and_the_rest_wait_for_them() -> None:
    schedule = PollSchedule(first=3.0, maximum=30.0)
    scouts = [schedule.enlist() for _ in range(5)]
    assert scouts == [0, 1, 2, None, None]
    assert schedule.delay(0, 0.0) == 30.0   # a non-scout: until the scouts learn (or 30 s)
    firsts = [schedule.delay(0, 0.0, scout=n) for n in (0, 1, 2)]
    assert firsts[0] == PollSchedule.PROBE and firsts == sorted(set(firsts))
    assert firsts[2] < PollSchedule.PROBE * (1 + PollSchedule.SCOUT_STEP)  # interleaved
    # later looks come after a fixed fraction of the age: a few looks per doubling
    assert schedule.delay(3, 2.0, scout=0) == pytest.approx(2.0 * PollSchedule.SCOUT_STEP)
    schedule.dismiss(1)
    assert schedule.enlist() == 1


def test_a_provider_hint_sooner_than_the_probe_is_kept() -> None:
    assert PollSchedule(first=0.03, maximum=0.2).delay(0, 0.0, scout=0) == 0.03


def test_the_reported_time_sets_the_first_look_and_ends_scouting() -> None:
    schedule = PollSchedule(first=3.0, maximum=30.0)
    assert not schedule.learnt.is_set()
    schedule.finished(0.5, running=0.0, done=3.0)  # seen late; the provider says 0.5 s
    assert schedule.learnt.is_set() and schedule.expected() == 0.5
    assert schedule.enlist() is None
    assert schedule.delay(0, 0.0) == 0.5
    assert schedule.delay(0, 0.3) == pytest.approx(0.2)
    # looked at once it was due and still running: again after a fraction of its age
    assert schedule.delay(1, 0.6, last_look=0.5) == pytest.approx(0.6 * PollSchedule.STEP)
    assert schedule.delay(9, 1000.0, last_look=990.0) == 30.0   # never less often than this


def test_a_long_expected_time_still_looks_every_maximum() -> None:
    """Tasks expected to take longer than the longest interval are looked at at least that
    often until they are due (``SEEDFLOW_POLL_MAX`` bounds every wait)."""
    schedule = PollSchedule(first=3.0, maximum=30.0)
    schedule.finished(100.0, running=95.0, done=105.0)
    assert schedule.expected() == 100.0
    assert schedule.delay(0, 0.0) == 30.0
    assert schedule.delay(1, 90.0, last_look=90.0) == pytest.approx(10.0)


def test_a_task_not_looked_at_since_it_was_due_is_looked_at_now() -> None:
    """What the scouts learn wakes the tasks waiting for it: one that was never looked at (it
    waited for the scouts) or was last looked at before the expected time (a scout that saw it
    running) is looked at once, not after a fraction of its age, and one still younger than
    the expected time waits for it."""
    schedule = PollSchedule(first=3.0, maximum=30.0)
    schedule.finished(0.5, running=0.45, done=0.52)
    assert schedule.delay(0, 0.51) == PollSchedule.SHORTEST
    assert schedule.delay(4, 0.53, scout=1, last_look=0.47) == PollSchedule.SHORTEST
    assert schedule.delay(0, 0.48) == pytest.approx(0.02)


def test_the_median_is_not_moved_by_a_few_absurd_reports() -> None:
    schedule = PollSchedule(first=3.0, maximum=30.0)
    for _ in range(20):
        schedule.finished(4.0, running=0.0, done=4.1)
    for absurd in (0.0, 1e-9, 86400.0, 86400.0):
        schedule.finished(absurd, running=0.0, done=4.1)
    assert schedule.expected() == 4.0


def test_a_report_the_polls_contradict_is_kept_within_what_they_saw() -> None:
    # A provider whose times are off by 1000x (a unit mix-up) would otherwise make every
    # task poll from its first milliseconds on, or wait for hours.
    too_short = PollSchedule(first=3.0, maximum=30.0)
    for _ in range(5):
        too_short.finished(0.004, running=6.0, done=7.0)   # seen running at 6 s
    assert too_short.expected() == 6.0
    too_long = PollSchedule(first=3.0, maximum=30.0)
    too_long.finished(4000.0, running=3.0, done=4.0)       # seen done at 4 s
    assert too_long.expected() == 4.0


def test_without_reports_the_middle_of_running_and_done_is_learnt() -> None:
    schedule = PollSchedule(first=3.0, maximum=30.0)
    schedule.finished(None, running=3.0, done=4.0)
    assert schedule.expected() == 3.5
    schedule.finished(None, running=0.0, done=3.5)   # done at its first look: no news
    assert schedule.expected() == 3.5


def test_without_reports_a_first_look_that_saw_it_done_still_teaches_something() -> None:
    schedule = PollSchedule(first=3.0, maximum=30.0)
    schedule.finished(None, running=0.0, done=0.25)
    assert schedule.learnt.is_set() and schedule.expected() == 0.125


def test_the_limiter_says_whether_a_create_would_wait() -> None:
    """What lets a worker send its next create before downloading: would it be let go now?"""
    async def scenario() -> list[bool]:
        free, paced = RateLimiter(None), RateLimiter((1, 60.0))
        before = [free.ready(), paced.ready()]
        await paced.wait()        # the window's one start
        free.push_back(60.0)      # a provider's Retry-After
        return [*before, free.ready(), paced.ready()]

    assert asyncio.run(scenario()) == [True, True, False, False]


def test_shards_of_one_account_split_its_rate_exactly() -> None:
    parts = [shared_rate((20, 10.0), RateShare(k, (1, 1, 1))) for k in (1, 2, 3)]
    assert parts == [(7, 10.0), (7, 10.0), (6, 10.0)]
    assert sum(count for count, _ in parts) == 20   # together never over the limit


def test_the_split_follows_each_shards_work() -> None:
    """Every shard computes the same split from the same sizes: the largest gets the most."""
    sizes = (36, 40, 44)
    parts = [shared_rate((20, 10.0), RateShare(k, sizes)) for k in (1, 2, 3)]
    assert parts == [(6, 10.0), (7, 10.0), (7, 10.0)]
    assert apportion(20, (0, 0, 0)) == [7, 7, 6]
    assert apportion(20, (100, 1, 1)) == [20, 0, 0]
    assert sum(apportion(7, (3, 5, 11, 2))) == 7


def test_a_share_of_unknown_position_takes_no_extra_create() -> None:
    assert shared_rate((20, 10.0), RateShare(0, (1, 1, 1))) == (6, 10.0)


def test_no_share_or_no_limit_is_left_alone() -> None:
    assert shared_rate((20, 10.0), None) == (20, 10.0)
    assert shared_rate((20, 10.0), RateShare(1, (5,))) == (20, 10.0)
    assert shared_rate(None, RateShare(1, (1, 1, 1))) is None


def test_a_part_that_rounds_to_nothing_sends_the_average() -> None:
    assert shared_rate((2, 10.0), RateShare(1, (1, 1, 1, 1))) == (1, 20.0)


def test_the_share_comes_from_the_shard_unless_overridden() -> None:
    assert rate_share((2, 3), {}) == RateShare(2, (1, 1, 1))
    assert rate_share((2, 3), {}, (5, 6, 7)) == RateShare(2, (5, 6, 7))
    assert rate_share(None, {}) is None
    assert rate_share((2, 3), {"SEEDFLOW_SHARDS_PER_ACCOUNT": "1"}) is None  # own accounts
    assert rate_share((2, 6), {"SEEDFLOW_SHARDS_PER_ACCOUNT": "3"}) == RateShare(0, (1, 1, 1))
    assert rate_share((2, 3), {"SEEDFLOW_SHARDS_PER_ACCOUNT": "3"}) == RateShare(2, (1, 1, 1))
    assert rate_share(None, {"SEEDFLOW_SHARDS_PER_ACCOUNT": "2"}) == RateShare(0, (1, 1))
    settings = settings_from_env({"SEEDFLOW_APIKLEY_RATE": "20/10s"}, shard=(3, 3),
                                 shard_sizes=(4, 4, 2))
    assert settings.rate_share == RateShare(3, (4, 4, 2))
    assert settings.rates["apikley"] == (20, 10.0)
