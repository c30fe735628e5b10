"""Checks of client input, and the one error they raise, shaped like the hosted API's ``error``.

Hand-written checks give the hosted API's messages for the common mistakes; `check_model` then holds
whatever the emulator will echo (session fields, items, response parameters) to the `openai`
package's own models, so a value that passes can never make a server event fail to parse.
`rules.check_param` then holds the input to the package's *client* types, literal values included,
and to the hosted rules no type expresses (docs/emulator.md, "Strictness").
"""

from __future__ import annotations

import json
import re
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


def join_listed(shown: list[str]) -> str:
    """``a``, ``a and b``, ``a, b, and c``: how the hosted API lists supported values."""
    if len(shown) <= 2:
        return " and ".join(shown)
    return ", ".join(shown[:-1]) + ", and " + shown[-1]


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
    """Of a union's errors, skip the branches rejected for being another kind of thing (their
    ``type`` is another one, or a string literal was offered an object or array) when a branch of the
    right kind says what is actually wrong; when none is of the right kind, the ``type`` is wrong."""
    other_kinds = {  # the location of each union branch whose ``type`` is another one
        tuple(e["loc"][:-1])
        for e in errors
        if e["type"] == "literal_error"
        and len(e["loc"]) >= 2
        and e["loc"][-1] == "type"
        and _is_union_tag(str(e["loc"][-2]))
    }
    telling = [
        e
        for e in errors
        if not any(tuple(e["loc"][: len(branch)]) == branch for branch in other_kinds)
        and not (e["type"] == "literal_error" and isinstance(e["input"], dict | list))
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
    if kind == "literal_error" and "expected" in error.get("ctx", {}):
        # every branch's literals for this field (``audio/pcm``, ``audio/pcmu``, ``audio/pcma``)
        expected = [
            str(e["ctx"]["expected"])
            for e in exc.errors()
            if e["type"] == "literal_error"
            and "expected" in e.get("ctx", {})
            and e["input"] == error["input"]
            and _param(prefix, tuple(e["loc"])) == param
        ]
        return _literal_error(error["input"], " or ".join(expected), param)
    reason = str(error["msg"]).rstrip(".")
    if kind.endswith(("_type", "_parsing")):
        return ClientEventError(f"Invalid type for '{param}': {reason}.", "invalid_type", param)
    return ClientEventError(f"Invalid value for '{param}': {reason}.", "invalid_value", param)


def _literal_error(value: Any, expected: str, param: str) -> ClientEventError:
    """pydantic's "Input should be 'a', 'b' or 'c'" in the hosted API's words:
    ``Invalid value: 'z'. Supported values are: 'a', 'b', and 'c'.``"""
    shown = list(dict.fromkeys(re.split(r", | or ", expected)))
    text = f"'{value[:64]}'" if isinstance(value, str) else json.dumps(value)[:64]
    return ClientEventError(
        f"Invalid value: {text}. Supported values are: {join_listed(shown)}.", "invalid_value", param
    )


@lru_cache(maxsize=32)
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def warm_up(models: Any) -> None:
    """Build the validators of `models` now: building one takes tens of ms of pure Python, which in
    an emulator sharing a process with a session (the demo, the notebook panel) would hold the
    interpreter while the session's loop waits, mid-interview."""
    for model in models:
        try:  # (the openai models defer building their validators to the first validation)
            _adapter(model).validate_python(None, strict=True)
        except ValidationError:
            pass


def check_model(model: Any, value: Any, prefix: str) -> None:
    """Raise ClientEventError unless `value` (parsed JSON) is a valid `model`, with no type coercion
    (``"5"`` is not an integer), as the hosted API's JSON schema would judge it."""
    try:
        _adapter(model).validate_json(json.dumps(value), strict=True)
    except ValidationError as exc:
        raise error_from_validation(exc, prefix) from None
