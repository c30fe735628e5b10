"""`OpenAIAssessor`: a report from any OpenAI-compatible chat-completions endpoint (the hosted API, the
emulator, a local server), with its own retry policy (429/5xx/connection errors/timeouts/malformed
answers, exponential backoff, ``Retry-After`` honoured).

The sync and async paths share one retry loop (`OpenAIAssessor._attempts`); they differ only in the
client they call and how they wait. ``openai`` is imported on first use.

Sampling parameters go only to models that take them: reasoning models (``o1``, ``o3``, ``o4-mini``, the
``gpt-5`` family) answer a ``temperature`` with a 400 that no retry cures. The rule, by model-name
prefix, is `interview_kit.wire_types.chat_model_rule`, the same table the emulator's chat endpoint
enforces.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from interview_kit.assessment.base import AssessmentError, Assessor
from interview_kit.assessment.chat_format import (
    MalformedAnswer,
    build_messages,
    parse_answer,
    response_format,
)
from interview_kit.assessment.prompts import AssessmentPrompt, load_prompt
from interview_kit.assessment.report import AssessmentReport, mean_score
from interview_kit.assessment.retry import (
    MAX_BACKOFF,
    Attempts,
    Wait,
    backoff_seconds,
    drive_async,
    drive_sync,
    retry_after_seconds,
)
from interview_kit.assessment.turns import Turns
from interview_kit.eventlog import redact, strip_userinfo, url_secrets
from interview_kit.wire_types import chat_model_rule

log = logging.getLogger(__name__)

DEFAULT_TEMPERATURE = 0.2  # the assessor's own, for a prompt that sets none

_TOLD: set[tuple[str, str, float]] = set()  # (model, prompt, temperature) already warned about


def unsent_temperature(model: str, prompt: AssessmentPrompt) -> str | None:
    """Why the prompt's `temperature` is not sent to `model` (a reasoning model takes only its default,
    1), or None when it is sent, is the default, or the prompt sets none."""
    wanted = prompt.temperature
    if wanted is None or wanted == 1 or chat_model_rule(model).takes_sampling:
        return None
    return (f"prompt {prompt.name!r} sets temperature {wanted:g}, but the assessment model {model} is a "
            "reasoning model that takes only its default temperature (1): no temperature is sent")


def temperature_warning(model: str, prompt: AssessmentPrompt) -> str | None:
    """`unsent_temperature`, the first time it is asked about this model, prompt and temperature in
    this process (None after that): a front end shows it before the interview, the assessor logs it
    at its first request, and the user hears of it once."""
    note = unsent_temperature(model, prompt)
    if note is None:
        return None
    key = (model, prompt.name, float(prompt.temperature or 0))
    if key in _TOLD:
        return None
    _TOLD.add(key)
    return note


class OpenAIAssessor(Assessor):
    """Chat completions with a strict ``json_schema`` response format, on any OpenAI-compatible server.

    Retries (up to `max_retries` more attempts) on 429, 5xx, connection errors, timeouts and malformed
    answers, waiting ``backoff * 2**attempt`` seconds or what ``Retry-After`` asks (capped at 30 s).
    Other errors (400, 401, 404...) fail at once. The SDK's own retries are off. With a `budget` (the
    seconds the whole call may take: the session's report budget), a server that asks to be left alone
    for longer than what is left of it fails the call at once, naming why ("rate limited (HTTP 429,
    Retry-After 30 s) longer than the report budget (15 s)"), instead of waiting into a plain timeout.

    `temperature` is used when the prompt sets none (None: none sent); either is sent only to a model
    that takes sampling parameters (`wire_types.chat_model_rule`). A prompt's temperature that the
    model would refuse is left out, with one warning.
    """

    name = "openai"

    def __init__(
        self,
        model: str = "gpt-4o-mini",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        temperature: float | None = DEFAULT_TEMPERATURE,
        sleep: Callable[[float], None] = time.sleep,
        budget: float | None = None,
    ) -> None:
        if max_retries < 0 or backoff < 0 or timeout <= 0 or (budget is not None and budget <= 0):
            raise ValueError("max_retries and backoff must be >= 0, timeout and budget > 0")
        self.model = model
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.temperature = temperature
        self.budget = budget
        self._sleep = sleep  # the sync path's wait between attempts (the async path awaits asyncio.sleep)
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.attempts: list[str] = []  # outcome of each attempt of the last call ("ok", "429", ...)
        self._client: Any = None  # the blocking client `prepare` made, kept for every later call

    def __repr__(self) -> str:
        url = strip_userinfo(self.base_url) if self.base_url else None
        return f"OpenAIAssessor(model={self.model!r}, base_url={url!r})"

    # -- the two entry points: one retry loop, a blocking or an awaiting driver ----------------------
    def prepare(self) -> None:
        """Import the SDK and make the blocking client (its TLS context takes tens of ms) once, now."""
        if self._client is None:
            self._client = self._new_client()

    def _new_client(self) -> Any:
        import openai

        return openai.OpenAI(api_key=self._key(), base_url=self._url(), timeout=self.timeout, max_retries=0)

    def assess_sync(self, turns: Turns, prompt: AssessmentPrompt | str) -> AssessmentReport:
        request, attempts = self._begin(turns, prompt)
        if self._client is not None:
            client = self._client
            return drive_sync(attempts, lambda: client.chat.completions.create(**request), self._sleep)
        with self._new_client() as client:
            return drive_sync(attempts, lambda: client.chat.completions.create(**request), self._sleep)

    async def assess(self, turns: Turns, prompt: AssessmentPrompt | str) -> AssessmentReport:
        if self._client is not None:
            # Prepared: the blocking client's TLS context exists already. A new AsyncOpenAI client would
            # build another (loading the CA bundle holds the interpreter lock for 20-150 ms: a stall of
            # the session's loop, measured in the browser test at report time), so the blocking call runs
            # in a worker thread instead, where it waits on the network without the lock.
            return await asyncio.to_thread(self.assess_sync, turns, prompt)
        import openai

        request, attempts = self._begin(turns, prompt)
        async with openai.AsyncOpenAI(api_key=self._key(), base_url=self._url(), timeout=self.timeout,
                                      max_retries=0) as client:
            return await drive_async(attempts, lambda: client.chat.completions.create(**request),
                                     asyncio.sleep)

    # -- the retry loop ----------------------------------------------------------------------------
    def _begin(self, turns: Turns, prompt: AssessmentPrompt | str
               ) -> tuple[dict[str, Any], Attempts[AssessmentReport]]:
        """The request to send, and the retry loop that judges each answer (`attempts` starts afresh)."""
        prompt = load_prompt(prompt)
        started = time.monotonic()
        request = self._request(turns, prompt)
        self.attempts = []
        return request, self._attempts(prompt, started)

    def _attempts(self, prompt: AssessmentPrompt, started: float) -> Attempts[AssessmentReport]:
        """Up to ``1 + max_retries`` attempts: yields None for each call (its completion is sent back, or
        its exception thrown in) and a `Wait` between them; returns the report of the first good answer."""
        for attempt in range(self.max_retries + 1):
            try:
                completion = yield None
                answer = parse_answer(self._content(completion), prompt)
            except AssessmentError:
                raise
            except Exception as exc:
                yield Wait(self._after_failure(exc, attempt, started))
                continue
            self.attempts.append("ok")
            return self._report(answer, prompt, completion, started)
        raise AssertionError("unreachable")

    def _after_failure(self, exc: BaseException, attempt: int, started: float) -> float:
        """Record failed attempt number `attempt` (from 0); return the seconds to wait before the next
        one, or raise the `AssessmentError` that ends the call (not retryable, no retries left, or a
        server asking for a wait longer than what is left of the budget)."""
        label, wait = self._classify(exc, attempt)
        self.attempts.append(label)
        failed = f"assessment with {self.model} failed after {attempt + 1} attempt(s)"
        if wait is None or attempt == self.max_retries:
            raise AssessmentError(f"{failed}: {self._describe(exc)}") from None
        asked = self._asked_wait(exc)
        left = None if self.budget is None else self.budget - (time.monotonic() - started)
        if asked is not None and left is not None and wait > left:
            why = "rate limited" if label == "429" else "server error"
            raise AssessmentError(f"{failed}: {why} (HTTP {label}, Retry-After {asked:g} s) longer than the "
                                  f"report budget ({self.budget:g} s)") from None
        log.info("assessment attempt %d failed (%s); retry in %.2f s", attempt + 1, label, wait)
        return wait

    def _classify(self, exc: BaseException, attempt: int) -> tuple[str, float | None]:
        """(label, seconds to wait before retrying) for a failed attempt; None means do not retry."""
        import openai

        backoff = backoff_seconds(self.backoff, attempt)
        if isinstance(exc, MalformedAnswer):
            return "malformed", backoff
        if isinstance(exc, openai.APITimeoutError):
            return "timeout", backoff
        if isinstance(exc, openai.APIConnectionError):
            return "connection", backoff
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if status == 429 or status >= 500:
                asked = retry_after_seconds(getattr(exc.response, "headers", None))
                return str(status), min(MAX_BACKOFF, asked) if asked is not None else backoff
            return str(status), None
        return type(exc).__name__, None

    @staticmethod
    def _asked_wait(exc: BaseException) -> float | None:
        """The seconds a 429/5xx answer asked us to wait (``Retry-After``), if it asked."""
        response = getattr(exc, "response", None)
        return retry_after_seconds(getattr(response, "headers", None)) if response is not None else None

    def _url(self) -> str | None:
        """The base URL connected to: without ``user:password@``, whose Basic header the HTTP client
        would put in place of the key's Bearer one (the key wins, as on the realtime connection)."""
        return strip_userinfo(self.base_url) if self.base_url else None

    # -- request and answer --------------------------------------------------------------------------
    def _key(self) -> str:
        if not self._api_key:
            raise AssessmentError("no API key for the assessment model: set OPENAI_API_KEY (or pass api_key)")
        return self._api_key

    def _clean(self, text: str) -> str:
        secrets = [self._api_key] if self._api_key else []
        return redact(strip_userinfo(text), [*secrets, *url_secrets(self.base_url)])

    def _request(self, turns: Turns, prompt: AssessmentPrompt) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "messages": build_messages(turns, prompt),
                                  "response_format": response_format(prompt)}
        temperature = self.temperature_for(prompt)
        if temperature is not None:
            kwargs["temperature"] = temperature
        return kwargs

    def temperature_for(self, prompt: AssessmentPrompt | str) -> float | None:
        """The temperature sent with `prompt`: the prompt's, else the assessor's; None (not sent) for a
        model that takes no sampling parameters (a reasoning model)."""
        prompt = load_prompt(prompt)
        if not chat_model_rule(self.model).takes_sampling:
            warning = temperature_warning(self.model, prompt)
            if warning is not None:
                log.warning("%s", warning)
            return None
        return prompt.temperature if prompt.temperature is not None else self.temperature

    def _describe(self, exc: BaseException) -> str:
        import openai

        if isinstance(exc, MalformedAnswer):
            return str(exc)
        if isinstance(exc, openai.APIStatusError):
            text = f"HTTP {exc.status_code}: {exc.message}"
        elif isinstance(exc, openai.APITimeoutError):
            text = f"no answer within {self.timeout:g} s"
        elif isinstance(exc, openai.APIConnectionError):
            where = strip_userinfo(self.base_url) if self.base_url else "the OpenAI API"
            text = f"could not reach {where} ({exc})"
        else:
            text = f"{type(exc).__name__}: {exc}"
        return self._clean(text)

    @staticmethod
    def _content(completion: Any) -> str | None:
        if not getattr(completion, "choices", None):
            raise MalformedAnswer("the answer has no choices")
        message = completion.choices[0].message
        if getattr(message, "refusal", None):
            raise AssessmentError(f"the model refused to assess: {message.refusal}")
        return message.content

    def _report(self, answer: dict[str, Any], prompt: AssessmentPrompt, completion: Any, started: float
                ) -> AssessmentReport:
        """Build the report; `model` is what the server says answered (e.g. the emulator's stand-in)."""
        usage = getattr(completion, "usage", None)
        if hasattr(usage, "model_dump"):
            usage = usage.model_dump(mode="json", exclude_none=True)
        model = getattr(completion, "model", None) or self.model
        return AssessmentReport(prompt=prompt.name, model=model, scores=answer["scores"],
                                overall=mean_score(answer["scores"]), strengths=answer["strengths"],
                                concerns=answer["concerns"], summary=answer["summary"],
                                duration_s=round(time.monotonic() - started, 3), usage=usage,
                                language=prompt.language)
