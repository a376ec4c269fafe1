"""The progress inbox not answering in time on a busy machine does not end the batch; a silent one does."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dit360_desktop.cluster.driver import DRAIN_TIMEOUTS_BEFORE_LOST, BatchDriver, ClusterOptions


class _GetTimeout(Exception):
    pass


class _ActorError(Exception):
    pass


class _Ray:
    """The two calls ``_drain`` makes of Ray, answering from a script."""

    exceptions = SimpleNamespace(GetTimeoutError=_GetTimeout, RayActorError=_ActorError)

    def __init__(self, answers: list) -> None:
        self.answers = list(answers)

    def get(self, _ref, timeout: float):
        assert timeout > 0
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


_INBOX = SimpleNamespace(take=SimpleNamespace(remote=lambda: "ref"))


def test_timeouts_short_of_the_limit_keep_the_batch_going_and_an_answer_resets_the_count() -> None:
    driver = BatchDriver(ClusterOptions(), library=None)
    late = [_GetTimeout()] * (DRAIN_TIMEOUTS_BEFORE_LOST - 1)
    ray = _Ray([*late, [], *late, []])
    for _ in range(2 * DRAIN_TIMEOUTS_BEFORE_LOST):
        assert driver._drain(ray, _INBOX) is _INBOX
    assert ray.answers == []


def test_an_inbox_silent_that_many_times_in_a_row_ends_the_batch() -> None:
    driver = BatchDriver(ClusterOptions(), library=None)
    ray = _Ray([_GetTimeout()] * DRAIN_TIMEOUTS_BEFORE_LOST)
    for _ in range(DRAIN_TIMEOUTS_BEFORE_LOST - 1):
        driver._drain(ray, _INBOX)
    with pytest.raises(_GetTimeout):
        driver._drain(ray, _INBOX)
