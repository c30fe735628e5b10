"""The response sequencer: one response at a time, a rejected request sent again after done, a done
without created, and every wait bounded."""

from __future__ import annotations

import asyncio
from typing import Any

from interview_kit import protocol as p
from interview_kit.sequencer import ResponseSequencer

STEP = 2.0


def make(**kw: Any) -> tuple[ResponseSequencer, list[dict[str, Any]], p.ResponseRegistry]:
    sent: list[dict[str, Any]] = []
    registry = p.ResponseRegistry()
    return ResponseSequencer(sent.append, registry, **kw), sent, registry


def created(registry: p.ResponseRegistry, rid: str, purpose: str | None = None) -> p.Binding:
    meta = {"metadata": {"purpose": purpose}} if purpose else {}
    binding = registry.created({"type": "response.created", "response": {"id": rid, **meta}})
    assert binding is not None
    return binding


def done(registry: p.ResponseRegistry, rid: str) -> p.Binding:
    binding = registry.done({"type": "response.done", "response": {"id": rid}})
    assert binding is not None
    return binding


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_waits_for_active_response_done_before_sending() -> None:
    seq, sent, reg = make()
    seq.on_created(created(reg, "auto1"))  # the server's own (VAD) response is active
    task = asyncio.create_task(seq.request("ack", p.response_create("ack")))
    await settle()
    assert sent == []  # nothing sent while a response is active
    seq.on_done(done(reg, "auto1"))
    await settle()
    assert [e["response"]["metadata"]["purpose"] for e in sent] == ["ack"]
    seq.on_created(created(reg, "r_ack", "ack"))
    assert await asyncio.wait_for(task, STEP) == sent[0]["event_id"]


async def test_requests_are_serialised_in_order() -> None:
    seq, sent, reg = make()
    first = asyncio.create_task(seq.request("ack", p.response_create("ack")))
    second = asyncio.create_task(seq.request("summary", p.response_create("summary")))
    await settle()
    assert len(sent) == 1
    seq.on_created(created(reg, "a", "ack"))
    await asyncio.wait_for(first, STEP)
    await settle()
    assert len(sent) == 1  # the ack is still active
    seq.on_done(done(reg, "a"))
    await settle()
    assert [e["response"]["metadata"]["purpose"] for e in sent] == ["ack", "summary"]
    seq.on_created(created(reg, "s", "summary"))
    await asyncio.wait_for(second, STEP)


async def test_rejected_request_is_sent_again_after_the_blocking_response_is_done() -> None:
    seq, sent, reg = make()
    task = asyncio.create_task(seq.request("ack", p.response_create("ack")))
    await settle()
    assert len(sent) == 1
    # a response we had not seen yet was active: the server rejects ours
    seq.on_rejected(sent[0]["event_id"])
    await settle()
    assert len(sent) == 1 and reg.pending == ()
    seq.on_created(created(reg, "hidden"))  # its created arrives late: not ours (no echo -> auto)
    assert reg.purpose("hidden") == p.AUTO_PURPOSE
    seq.on_done(done(reg, "hidden"))
    await settle()
    assert len(sent) == 2 and sent[1]["response"]["metadata"] == {"purpose": "ack"}
    seq.on_created(created(reg, "r_ack"))  # no echo: bound to the pending request
    assert reg.purpose("r_ack") == "ack"
    assert await asyncio.wait_for(task, STEP) == sent[1]["event_id"]


async def test_rejection_for_another_event_is_ignored() -> None:
    seq, sent, reg = make()
    task = asyncio.create_task(seq.request("ack", p.response_create("ack")))
    await settle()
    seq.on_rejected("someone_else")
    seq.on_created(created(reg, "a", "ack"))
    await asyncio.wait_for(task, STEP)
    assert len(sent) == 1


async def test_done_without_created_releases_the_next_request() -> None:
    seq, sent, reg = make()
    seq.on_created(created(reg, "q1"))
    task = asyncio.create_task(seq.request("goodbye", p.response_create("goodbye")))
    await settle()
    # interrupted: the server sends a done for a response whose created we never saw, then the q1 done
    seq.on_done(done(reg, "never_created"))
    await settle()
    assert sent == []
    seq.on_done(done(reg, "q1"))
    await settle()
    assert len(sent) == 1
    seq.on_done(done(reg, "g"))  # our own request answered by a bare done (e.g. cancelled at once)
    assert reg.purpose("g") == p.AUTO_PURPOSE  # a bare done without echo is not taken for ours
    seq.on_created(created(reg, "g2", "goodbye"))
    await asyncio.wait_for(task, STEP)


async def test_missing_done_times_out_and_sends_anyway() -> None:
    seq, sent, reg = make(done_timeout=0.05, created_timeout=0.05)
    notes: list[str] = []
    seq._note = lambda kind, data: notes.append(data["waiting_for"])  # type: ignore[method-assign]
    seq.on_created(created(reg, "stuck"))
    result = await asyncio.wait_for(seq.request("ack", p.response_create("ack")), STEP)
    assert len(sent) == 1
    assert result is None  # and its created never came either
    assert notes == ["response.done", "response.created"]
    assert not seq.busy


async def test_close_releases_waiters() -> None:
    seq, sent, reg = make()
    seq.on_created(created(reg, "active"))
    task = asyncio.create_task(seq.request("ack", p.response_create("ack")))
    await settle()
    seq.close()
    assert await asyncio.wait_for(task, STEP) is None
    assert sent == []


async def test_a_request_no_longer_wanted_is_dropped_not_sent_late() -> None:
    notes: list[tuple[str, dict[str, Any]]] = []
    seq, sent, reg = make(on_note=lambda kind, data: notes.append((kind, data)))
    wanted = True
    seq.on_created(created(reg, "q1", "question"))  # a response is active: the ack has to wait
    task = asyncio.create_task(seq.request("ack", p.response_create("ack"), still_wanted=lambda: wanted))
    await settle()
    wanted = False  # meanwhile the flow timed out and moved on
    seq.on_done(done(reg, "q1"))
    assert await asyncio.wait_for(task, STEP) is None
    assert sent == [] and notes == [("sequencer.dropped", {"purpose": "ack", "attempt": 1})]
    follow = asyncio.create_task(seq.request("summary", p.response_create("summary"),
                                             still_wanted=lambda: True))
    await settle()
    assert [e["response"]["metadata"]["purpose"] for e in sent] == ["summary"]
    seq.on_created(created(reg, "s1", "summary"))
    assert await asyncio.wait_for(follow, STEP) == sent[0]["event_id"]


async def test_a_cancelled_request_does_not_hold_up_the_next() -> None:
    seq, sent, reg = make(created_timeout=30.0)
    first = asyncio.create_task(seq.request("ack", p.response_create("ack")))
    await settle()
    assert len(sent) == 1  # sent, waiting for its response.created
    first.cancel()
    await settle()
    second = asyncio.create_task(seq.request("summary", p.response_create("summary")))
    await settle()
    assert [e["response"]["metadata"]["purpose"] for e in sent] == ["ack", "summary"]
    seq.on_created(created(reg, "s1", "summary"))
    assert await asyncio.wait_for(second, STEP) == sent[1]["event_id"]
