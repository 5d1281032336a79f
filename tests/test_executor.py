"""One executor for every stage's tasks: the same outcomes inline, in a pool and in fresh processes;
a crashing task does not take the others down; errors come back unchanged."""

from __future__ import annotations

import os

import pytest

from jaforge.errors import InputError
from jaforge.executor import Executor, ExecutorConfig


def square(x: int) -> int:
    return x * x


def crash_on_three(x: int) -> int:
    print(f"task {x} says hello", flush=True)
    if x == 3:
        os._exit(7)  # a segfault or an OOM kill looks like this to the parent
    return x * x


def bad_file(x: int) -> int:
    if x == 2:
        raise InputError("some/file.jsonl", "malformed", line=12)
    return x


@pytest.mark.parametrize("kind,isolate", [("inline", False), ("local", False), ("local", True)])
def test_every_kind_gives_the_same_outcomes(kind, isolate):
    with Executor(ExecutorConfig(kind=kind, workers=2), isolate=isolate) as executor:
        outcomes = {o.key: o.result for o in executor.map(square, [(i, i) for i in range(6)])}
    assert outcomes == {i: i * i for i in range(6)}


def test_an_isolated_crash_is_an_outcome_and_the_others_finish(tmp_path):
    log = lambda x: tmp_path / f"{x}.log"  # noqa: E731
    with Executor(ExecutorConfig(kind="local", workers=2), isolate=True, log=log) as executor:
        outcomes = {o.key: o for o in executor.map(crash_on_three, [(i, i) for i in range(5)], keep_going=True)}
    assert [k for k, o in outcomes.items() if not o.ok] == [3]
    assert "exit code 7" in outcomes[3].error and str(tmp_path / "3.log") in outcomes[3].error
    assert all(outcomes[i].result == i * i for i in (0, 1, 2, 4))
    assert (tmp_path / "4.log").read_text() == "task 4 says hello\n"


@pytest.mark.parametrize("kind", ["inline", "local"])
def test_the_first_failure_is_raised_unchanged(kind):
    with Executor(ExecutorConfig(kind=kind, workers=2)) as executor:
        with pytest.raises(InputError) as err:
            list(executor.map(bad_file, [(i, i) for i in range(4)]))
    assert err.value.path == "some/file.jsonl" and err.value.line == 12
    assert str(err.value) == "some/file.jsonl:12: malformed"
