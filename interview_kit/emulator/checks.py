"""Checks of client input, and the one error they raise, shaped like the hosted API's ``error``.

Hand-written checks give the hosted API's messages for the common mistakes; `check_model` then holds
whatever the emulator will echo (session fields, items, response parameters) to the `openai`
package's own models, so a value that passes can never make a server event fail to parse.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter, ValidationError


class ClientEventError(ValueError):
    """A client event (or a field of one) the emulator rejects; becomes an ``error`` event with
    this message, `code` and `param`."""

    def __init__(self, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.param = code, param


_TYPE_NAMES: dict[type, str] = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def type_name(value: Any) -> str:
    """The JSON name of a value's type, as error messages say it."""
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def expect(value: Any, kinds: tuple[type, ...], param: str, what: str) -> None:
    """Raise ``invalid_type`` unless `value` is one of `kinds` (a bool is not a number here)."""
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        raise ClientEventError(
            f"Invalid type for '{param}': expected {what}, but got {type_name(value)} instead.",
            "invalid_type",
            param,
        )


def field(
    event: dict[str, Any],
    name: str,
    kinds: tuple[type, ...],
    what: str,
    required: bool = True,
    prefix: str = "",
) -> Any:
    """`event[name]` checked by `expect`; a missing (or null) field is an error when `required`."""
    param = f"{prefix}{name}"
    value = event.get(name)
    if value is None:
        if required:
            raise ClientEventError(
                f"Missing required parameter: '{param}'.", "missing_required_parameter", param
            )
        return None
    expect(value, kinds, param, what)
    return value


# ---- the openai package's models ------------------------------------------------------------------------

_BUILTIN_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def _is_union_tag(part: str) -> bool:
    """pydantic names union branches in an error's location (``ServerVad``, ``literal['inf']``,
    ``int``); they are not fields of the client's JSON."""
    return part[:1].isupper() or "[" in part or "(" in part or part in _BUILTIN_TAGS


def _param(prefix: str, loc: tuple[Any, ...]) -> str:
    param = prefix
    for part in loc:
        if isinstance(part, int):
            param += f"[{part}]"
        elif not _is_union_tag(str(part)):
            param += f".{part}" if param else str(part)
    return param


def _most_telling(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Of a union's errors, skip the branches rejected only for their ``type`` (another kind of
    thing) when a branch of the right kind says what is actually wrong."""
    telling = [
        e for e in errors if not (e["type"] == "literal_error" and e["loc"] and e["loc"][-1] == "type")
    ]
    return (telling or errors)[0]


def error_from_validation(exc: ValidationError, prefix: str) -> ClientEventError:
    """The hosted API's kind of error for a pydantic validation failure, `param` naming the field."""
    error = _most_telling(exc.errors())
    param = _param(prefix, tuple(error["loc"]))
    kind = error["type"]
    if kind == "missing":
        message = f"Missing required parameter: '{param}'."
        return ClientEventError(message, "missing_required_parameter", param)
    if kind == "extra_forbidden":
        return ClientEventError(f"Unknown parameter: '{param}'.", "unknown_parameter", param)
    reason = str(error["msg"]).rstrip(".")
    if kind.endswith(("_type", "_parsing")):
        return ClientEventError(f"Invalid type for '{param}': {reason}.", "invalid_type", param)
    return ClientEventError(f"Invalid value for '{param}': {reason}.", "invalid_value", param)


@lru_cache(maxsize=32)
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def check_model(model: Any, value: Any, prefix: str) -> None:
    """Raise ClientEventError unless `value` (parsed JSON) is a valid `model`, with no type coercion
    (``"5"`` is not an integer), as the hosted API's JSON schema would judge it."""
    try:
        _adapter(model).validate_json(json.dumps(value), strict=True)
    except ValidationError as exc:
        raise error_from_validation(exc, prefix) from None
