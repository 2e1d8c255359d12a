"""A rule-testing run with a draft rule, in a child process that exits when the run is done.

The draft is linted in the caller (`mdrcds.knowledge.rulebook.with_draft_rule`); only a rulebook that
passes reaches here. The engine work then runs in a fresh Python process, never in the server's:

* durable-rules keeps every ruleset it registers for the life of the process (its ruleset handles
  are a process-wide table, and rulesets created repeatedly grow memory: docs/decisions/0001), so a
  ruleset per request would leak; a process that exits frees all of it;
* a draft is code the server has never run: a crash of the C core takes down the child, not the
  server, and a run past its deadline is killed;
* the server's own rulebook and engine are not touched, so a draft can never change what EHRs get.

The parent sends the rulebook (draft included) and the uploads pickled on stdin; the child answers
with the run as JSON on stdout.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from typing import Any

from mdrcds.errors import MdrcdsError
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.research.ruletesting import Subject, TestingInputError, TestingRun, Upload, run_uploads


class DraftRunError(MdrcdsError):
    """The run with a draft rule did not finish (deadline passed, or its process ended abnormally)."""


class DraftSlotsFull(MdrcdsError):
    """As many draft-rule runs as allowed are already in flight."""


class DraftSlots:
    """How many draft-rule runs (child processes) one server process has in flight. Used from the
    event loop's thread only, so a plain counter is enough."""

    def __init__(self) -> None:
        self.in_flight = 0

    @contextmanager
    def take(self, limit: int) -> Iterator[None]:
        """Hold one slot for the duration; DraftSlotsFull when `limit` are taken."""
        if self.in_flight >= limit:
            raise DraftSlotsFull(
                f"{self.in_flight} runs with draft rules are in progress on this server; try again shortly"
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


async def run_with_draft(
    rulebook: Rulebook,
    uploads: Sequence[Upload],
    *,
    now: date,
    hook: str,
    max_subjects: int,
    seconds: float,
) -> TestingRun:
    """`run_uploads` over `rulebook` (which holds the draft) in a child process; awaits without
    blocking the event loop. Raises TestingInputError as `run_uploads` does, DraftRunError when the
    child is killed at `seconds` or ends abnormally."""
    payload = pickle.dumps((rulebook, list(uploads), now, hook, max_subjects))
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        __name__,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(child.communicate(payload), seconds)
    except TimeoutError:
        child.kill()
        await child.wait()
        raise DraftRunError(
            f"the run with the draft rule took longer than {seconds:g} s and was stopped; "
            "upload fewer patients, or run it with `mdrcds test` or `mdrcds batch`"
        ) from None
    if child.returncode != 0:
        last = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        raise DraftRunError(
            f"the rules engine's process for the draft rule ended abnormally (exit code "
            f"{child.returncode}: {last[0][:300]}); the server's rulebook was not affected"
        )
    answer = json.loads(out)
    if "input_error" in answer:
        raise TestingInputError(answer["input_error"])
    if "error" in answer:
        raise DraftRunError(answer["error"])
    return TestingRun([Subject(**subject) for subject in answer["subjects"]], list(answer["read_problems"]))


def _child() -> None:
    from mdrcds.reasoning.engine import Engine

    rulebook, uploads, now, hook, max_subjects = pickle.loads(sys.stdin.buffer.read())
    answer: dict[str, Any]
    try:
        run = run_uploads(uploads, rulebook, Engine(rulebook), now=now, hook=hook, max_subjects=max_subjects)
        answer = {"subjects": [asdict(s) for s in run.subjects], "read_problems": run.read_problems}
    except TestingInputError as exc:
        answer = {"input_error": str(exc)}
    except MdrcdsError as exc:
        answer = {"error": str(exc)}
    sys.stdout.buffer.write(json.dumps(answer, default=str).encode())


if __name__ == "__main__":
    _child()
