"""One response of the scripted interviewer, from `response.created` to `response.done`.

A response sees its conversation through `ResponseHost` only (send events, store items, note audio,
report its start and end), and gets everything fixed when it was asked for in a `ResponsePlan`; it
never imports the connection's module nor touches its state.

Audio is paced on an absolute schedule: delta k leaves at ``first_audio + k * chunk / audio_rate``
measured from one ``loop.time()`` origin, so timer jitter never accumulates into drift. Transcript
words go out with the chunk in which they start.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import interview_kit.emulator.events as ev
import interview_kit.emulator.speech as speech
from interview_kit.emulator.items import ConversationItems
from interview_kit.emulator.script import Line

log = logging.getLogger(__name__)

AUDIO_TOKENS_PER_SECOND = 20  # roughly what the hosted API bills for output audio


class ResponseHost(Protocol):
    """The conversation as a response sees it: exactly the operations a response run needs."""

    @property
    def conversation_id(self) -> str: ...

    @property
    def items(self) -> ConversationItems:
        """The conversation's items: a response appends its output item, replaces it with its final
        state and notes its audio length there."""
        ...

    @property
    def stalled_seconds(self) -> float:
        """Total loop time stalls have held the server: the audio schedule shifts by it."""
        ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `coro` as a task that ends with the connection."""
        ...

    async def send(self, event: dict[str, Any]) -> None:
        """Send one event (waits out a stall; a connection already gone is not an error)."""
        ...

    async def send_text(self, text: str) -> None:
        """Send one already serialised event, as `send`."""
        ...

    async def send_error(
        self,
        message: str,
        code: str | None,
        param: str | None = None,
        event_id: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None: ...

    def response_started(self, run: ResponseRun) -> None:
        """`response.created` has gone out: faults timed from a response of its purpose start now."""
        ...

    def response_finished(self, run: ResponseRun) -> None:
        """The response is no longer active (called just before its ``response.done``, and at its end)."""
        ...

    def next_rate_limits(self, tokens: int) -> dict[str, Any]:
        """The ``rate_limits.updated`` event that follows a response using `tokens`."""
        ...


@dataclass(frozen=True)
class ResponsePlan:
    """What is fixed when a response is asked for. Delays are seconds of loop time (the scenario's
    latencies already divided by its speed); `audio_rate` is audio seconds sent per loop second."""

    line: Line
    metadata: dict[str, str] | None
    purpose: str
    echo_metadata: bool
    in_conversation: bool
    modality: str  # "audio" | "text"
    voice: str
    words_per_minute: float
    created_delay: float
    first_audio_delay: float
    audio_rate: float
    burst_seconds: float = 0.0  # > 0: audio goes out in bursts of this much audio...
    burst_gap: float = 0.0  # ...with this much loop time between them (hosted-like)
    transcript_lead: float = 0.0  # audio seconds a word's transcript delta goes out ahead of its audio


def purpose_of(metadata: dict[str, str] | None, line: Line) -> str:
    """What a fault's `during` matches: the client's ``metadata.purpose``, else the script's label."""
    return (metadata or {}).get("purpose") or line.label


class ResponseRun:
    """A response in flight; `cancel` ends it early with status ``cancelled``."""

    def __init__(self, host: ResponseHost, plan: ResponsePlan) -> None:
        self.host = host
        self.plan = plan
        self.line = plan.line
        self.purpose = plan.purpose
        self.modality = plan.modality
        self.in_conversation = plan.in_conversation
        self.response_id = ev.new_id("resp")
        self.item_id = ev.new_id("item")
        self.call_id = ev.new_id("call")
        self.cancelling = False
        self.cancel_reason = ""
        self.closing = False  # its closing events have begun: too late to cancel
        self.ended = False  # response.done is on its way: faults timed from it no longer apply
        self.created_sent = False
        self.item_added = False
        self.part_added = False
        self.part_done = False
        self.item_done = False
        self.spoken: list[str] = []  # transcript words sent so far
        self.audio_seconds = 0.0  # audio sent so far
        self.finished = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.running = False

    # ---- control --------------------------------------------------------------------------------------

    def start(self) -> None:
        self.task = self.host.spawn(self._run())

    @property
    def cancellable(self) -> bool:
        """True until a cancel is under way or the response has begun to close."""
        return not (
            self.cancelling or self.closing or self.ended or self.task is None or self.finished.is_set()
        )

    async def cancel(self, reason: str) -> bool:
        """Stop the response (reason ``client_cancelled`` or ``turn_detected``) and wait for its
        ``response.done``, so that it precedes whatever the caller sends next. False (and nothing
        done) when it is no longer `cancellable`."""
        if not self.cancellable:
            return False
        assert self.task is not None
        self.cancelling, self.cancel_reason = True, reason
        if self.running:  # a task cancelled before its first step would never run its handler
            self.task.cancel()
        await self.wait_finished(2.0)
        return True

    async def wait_finished(self, limit: float) -> None:
        try:
            await asyncio.wait_for(self.finished.wait(), limit)
        except TimeoutError:
            log.warning("response %s did not finish within %.1f s", self.response_id, limit)

    # ---- the response -----------------------------------------------------------------------------------

    async def _run(self) -> None:
        self.running = True
        try:
            try:
                if self.cancelling:
                    raise asyncio.CancelledError
                await self._body()
            except asyncio.CancelledError:
                if not self.cancelling:
                    raise
                await self._finish_cancelled()
            except Exception:  # a bug must still end the response visibly, not leave it hanging
                log.exception("response %s failed", self.response_id)
                await self._finish_failed()
        except Exception:  # closing a broken response broke too: the connection carries on
            log.exception("response %s could not be closed", self.response_id)
        finally:
            self.ended = True
            self.host.response_finished(self)
            self.finished.set()

    async def _body(self) -> None:
        await asyncio.sleep(self.plan.created_delay)
        await self._send_created()
        if self.line.kind == "call":
            item = await self._function_call()
        else:
            item = await self._message()
        await self._send_done("completed", item)

    def _response(
        self,
        status: str,
        output: list[dict[str, Any]],
        usage: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return ev.response_object(
            self.response_id,
            status=status,
            metadata=self.plan.metadata if self.plan.echo_metadata else None,
            modalities=[self.modality],
            conversation_id=self.host.conversation_id if self.in_conversation else None,
            output=output,
            voice=self.plan.voice,
            usage=usage,
            status_details=details,
        )

    async def _send_created(self, arm_faults: bool = True) -> None:
        await self.host.send(ev.event("response.created", response=self._response("in_progress", [])))
        self.created_sent = True
        if arm_faults:
            self.host.response_started(self)

    async def _send_done(
        self, status: str, item: dict[str, Any] | None, details: dict[str, Any] | None = None
    ) -> None:
        words = (
            len(" ".join(self.spoken).split()) if self.line.kind == "speak" else len(self.line.arguments) // 4
        )
        text_tokens = math.ceil(words * 1.3)
        audio_tokens = math.ceil(self.audio_seconds * AUDIO_TOKENS_PER_SECOND)
        input_tokens = 20 + len(self.host.items) * 12
        usage = ev.usage(input_tokens, text_tokens, audio_tokens)
        response = self._response(status, [item] if item else [], usage, details)
        # from here on the client may ask for the next response: it must not find this one active
        self.ended = True
        self.host.response_finished(self)
        await self.host.send(ev.event("response.done", response=response))
        await self.host.send(self.host.next_rate_limits(usage["total_tokens"]))

    def _ids(self) -> dict[str, Any]:
        return {"response_id": self.response_id, "item_id": self.item_id, "output_index": 0}

    async def _add_item(self, item: dict[str, Any]) -> None:
        await self.host.send(
            ev.event("response.output_item.added", response_id=self.response_id, output_index=0, item=item)
        )
        self.item_added = True
        if self.in_conversation:
            previous = self.host.items.append(item)
            await self.host.send(ev.event("conversation.item.added", item=item, previous_item_id=previous))

    async def _finish_item(self, item: dict[str, Any]) -> None:
        self.item_done = True
        await self.host.send(
            ev.event("response.output_item.done", response_id=self.response_id, output_index=0, item=item)
        )
        if self.in_conversation:
            self.host.items.replace(item)
            await self.host.send(ev.event("conversation.item.done", item=item))

    async def _function_call(self) -> dict[str, Any]:
        name, arguments = self.line.name, self.line.arguments
        await self._add_item(ev.function_call_item(self.item_id, self.call_id, name, "", "in_progress"))
        step = max(1, math.ceil(len(arguments) / 3))
        for i in range(0, len(arguments), step):
            await self.host.send(
                ev.event(
                    "response.function_call_arguments.delta",
                    call_id=self.call_id,
                    delta=arguments[i : i + step],
                    **self._ids(),
                )
            )
        self.closing = True
        await self.host.send(
            ev.event(
                "response.function_call_arguments.done",
                call_id=self.call_id,
                name=name,
                arguments=arguments,
                **self._ids(),
            )
        )
        item = ev.function_call_item(self.item_id, self.call_id, name, arguments, "completed")
        await self._finish_item(item)
        return item

    async def _message(self) -> dict[str, Any]:
        host = self.host
        await self._add_item(
            ev.assistant_item(self.item_id, status="in_progress", modality=self.modality, transcript=None)
        )
        part = (
            {"type": "audio", "transcript": ""} if self.modality == "audio" else {"type": "text", "text": ""}
        )
        await host.send(ev.event("response.content_part.added", content_index=0, part=part, **self._ids()))
        self.part_added = True
        await asyncio.sleep(self.plan.first_audio_delay)
        if self.modality == "audio":
            await self._speak()
        else:
            await self._write()
        return await self._close_content("completed")

    async def _write(self) -> None:
        """Text output: one delta per word, no pacing (text has no clock)."""
        for word in speech.utterance_words(self.line.text):
            await self.host.send(
                ev.event("response.output_text.delta", content_index=0, delta=word, **self._ids())
            )
            self.spoken.append(word)

    async def _speak(self) -> None:
        host = self.host
        utt = speech.utterance(self.line.text, self.plan.words_per_minute)
        rate = self.plan.audio_rate
        loop = asyncio.get_running_loop()
        words, n_words, w = utt.words, len(utt.words), 0
        position = 0.0
        origin = loop.time() - host.stalled_seconds  # a stall shifts the rest of the schedule
        plan = self.plan
        lead = plan.transcript_lead
        for chunk, seconds in zip(utt.chunks, utt.chunk_seconds, strict=True):
            gaps = 0.0
            if plan.burst_seconds > 0:  # hosted-like: bursts faster than real time, gaps between
                gaps = math.floor(position / plan.burst_seconds + 1e-9) * plan.burst_gap
            wait = origin + host.stalled_seconds + position / rate + gaps - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            # send_text waits out a stall; stalled_seconds then shifts the next wait
            await host.send_text(ev.audio_delta_json(self.response_id, self.item_id, chunk))
            position += seconds
            self.audio_seconds = position
            host.items.note_audio(self.item_id, int(position * 1000))
            # the words that start in this chunk (hosted-like: up to `lead` seconds of audio ahead)
            while w < n_words and words[w][1] < position + lead - 1e-6:
                await host.send(
                    ev.event(
                        "response.output_audio_transcript.delta",
                        content_index=0,
                        delta=words[w][0],
                        **self._ids(),
                    )
                )
                self.spoken.append(words[w][0])
                w += 1

    async def _close_content(self, status: str) -> dict[str, Any]:
        self.closing = self.part_done = True
        text = "".join(self.spoken)
        host = self.host
        if self.modality == "audio":
            await host.send(ev.event("response.output_audio.done", content_index=0, **self._ids()))
            await host.send(
                ev.event(
                    "response.output_audio_transcript.done", content_index=0, transcript=text, **self._ids()
                )
            )
            part = {"type": "audio", "transcript": text}
        else:
            await host.send(ev.event("response.output_text.done", content_index=0, text=text, **self._ids()))
            part = {"type": "text", "text": text}
        await host.send(ev.event("response.content_part.done", content_index=0, part=part, **self._ids()))
        item = ev.assistant_item(self.item_id, status=status, modality=self.modality, transcript=text)
        await self._finish_item(item)
        return item

    async def _close_opened(self) -> dict[str, Any] | None:
        """Close whatever output the response had opened, as ``incomplete``; return its item."""
        if not self.item_added:
            return None
        if self.line.kind == "speak":
            if self.part_added and not self.part_done:
                return await self._close_content("incomplete")
            item = ev.assistant_item(
                self.item_id, status="incomplete", modality=self.modality, transcript="".join(self.spoken)
            )
        else:
            item = ev.function_call_item(self.item_id, self.call_id, self.line.name, "", "incomplete")
        if not self.item_done:
            await self._finish_item(item)
        return item

    async def _finish_cancelled(self) -> None:
        """Close what was opened, then ``response.done`` with status ``cancelled``."""
        self.closing = True
        if not self.created_sent:
            await self._send_created(arm_faults=False)  # it never ran: no fault is timed from it
        item = await self._close_opened()
        await self._send_done("cancelled", item, {"type": "cancelled", "reason": self.cancel_reason})

    async def _finish_failed(self) -> None:
        """After an error inside the response: an ``error`` event, then ``response.done`` with
        status ``failed``, so the client is not left waiting for a response that will never end."""
        if self.ended:  # response.done is already out: nothing is left hanging
            return
        self.closing = True
        await self.host.send_error(
            "The server had an error while processing your request.", "server_error", type_="server_error"
        )
        if not self.created_sent:
            await self._send_created(arm_faults=False)
        item = await self._close_opened()
        error = {"type": "server_error", "code": "server_error"}
        await self._send_done("failed", item, {"type": "failed", "error": error})
