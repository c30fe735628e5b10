"""``POST /v1/chat/completions``: OpenAI-compatible requests answered by the stand-in model.

Latency is the scenario's ``report_delay`` plus any ``chat_delay`` fault, in real seconds slept on
the loop's clock (it models the report model, not the conversation, so ``speed`` does not shorten
it). Failures injected by ``chat_429`` / ``chat_500`` / ``chat_malformed`` are counted per Emulator
across all its clients. Only the response's ``created`` timestamp reads the wall clock. Parameters the
requested model does not take (``temperature`` on a reasoning model, ...) get the hosted API's 400
(`rules.chat_model_error`), judged, like every bad body, before any latency or fault.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from aiohttp import web

import interview_kit.emulator.standin as standin
from interview_kit.emulator.events import new_id
from interview_kit.emulator.faults import ChatFaults
from interview_kit.emulator.rules import chat_model_error
from interview_kit.scenario import Scenario

log = logging.getLogger(__name__)

STANDIN_PREFIX = "emulator-standin-"


def error_response(
    status: int,
    message: str,
    type_: str,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An HTTP error with the OpenAI error body."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def _bad_request(message: str, param: str | None = None, code: str | None = None) -> web.Response:
    return error_response(400, message, "invalid_request_error", code, param)


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class ChatEndpoint:
    """The chat-completions handler of one Emulator (its fault counters live here)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.faults = ChatFaults(scenario)

    @property
    def calls(self) -> int:
        return self.faults.calls

    async def handle(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _bad_request("We could not parse the JSON body of your request.", code="invalid_json")
        if not isinstance(body, dict):
            return _bad_request("The request body must be a JSON object.")
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not model:
            return _bad_request("you must provide a model parameter", "model", "missing_required_parameter")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            return _bad_request(
                "'messages' must be a non-empty array of message objects.", "messages", "invalid_type"
            )
        refused = chat_model_error(body)  # a parameter this model does not take (rules.CHAT_MODEL_RULES)
        if refused is not None:
            return _bad_request(str(refused), refused.param, refused.code)
        if body.get("stream"):
            return _bad_request(
                "Streaming is not supported by the emulator's stand-in model.", "stream", "unsupported_value"
            )
        response_format = body.get("response_format")
        if response_format is not None:
            kind = response_format.get("type") if isinstance(response_format, dict) else None
            if kind not in ("text", "json_object", "json_schema"):
                return _bad_request(
                    "Invalid 'response_format': type must be 'text', 'json_object' or 'json_schema'.",
                    "response_format.type",
                    "invalid_value",
                )
            if kind == "json_schema" and not isinstance(response_format.get("json_schema"), dict):
                return _bad_request(
                    "Missing required parameter: 'response_format.json_schema'.",
                    "response_format.json_schema",
                    "missing_required_parameter",
                )

        try:  # the schema is judged before any latency or fault, as the hosted API does
            content = standin.answer(messages, response_format)
        except standin.SchemaError as exc:
            name = response_format.get("json_schema", {}).get("name") if response_format else None
            return _bad_request(
                f"Invalid schema for response_format '{str(name)[:64]}': {exc}.",
                "response_format.json_schema.schema",
                "invalid_value",
            )
        delay, failure = self.faults.next_call()
        await asyncio.sleep(self.scenario.report_delay + delay)
        if failure is not None:
            log.info("chat fault %s", failure.kind)
            if failure.kind == "chat_429":
                return error_response(
                    429,
                    "Rate limit reached for requests (emulated by the interview_kit emulator).",
                    "requests",
                    "rate_limit_exceeded",
                    headers={"Retry-After": f"{failure.retry_after:g}"},
                )
            if failure.kind == "chat_500":
                return error_response(
                    500,
                    "The server had an error while processing your request. Sorry about that!",
                    "server_error",
                )
        if failure is not None and failure.kind == "chat_malformed":
            content = content[: max(1, len(content) // 2)] + ' ...{"unterminated'
        prompt_tokens = sum(_tokens(standin.message_text(m)) for m in messages)
        completion_tokens = _tokens(content)
        return web.json_response(
            {
                "id": new_id("chatcmpl"),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": STANDIN_PREFIX + model,
                "system_fingerprint": "emulator",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )
