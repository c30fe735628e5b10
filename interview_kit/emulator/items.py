"""The items of one realtime conversation, in order, and the audio length of each assistant item.

The connection (`realtime.RealtimeConversation`) and its responses (`responses.ResponseRun`) both
change the conversation, and both do it through these methods only.
"""

from __future__ import annotations

from typing import Any


class ConversationItems:
    """Items by id in the order they were added; `last_id` is the item a new one follows."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Any]] = {}
        self._last_id: str | None = None
        self._audio_ms: dict[str, int] = {}  # assistant item id -> audio sent so far, for truncation

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    @property
    def last_id(self) -> str | None:
        return self._last_id

    def get(self, item_id: str) -> dict[str, Any] | None:
        return self._items.get(item_id)

    def has_call(self, call_id: str) -> bool:
        """Whether a ``function_call`` item with this `call_id` is in the conversation (the hosted
        service checks this for a ``function_call_output``)."""
        return any(
            item.get("type") == "function_call" and item.get("call_id") == call_id
            for item in self._items.values()
        )

    def append(self, item: dict[str, Any]) -> str | None:
        """Store `item` (it has an ``id``) as the newest; return the id of the item it follows."""
        previous = self._last_id
        self._items[item["id"]] = item
        self._last_id = item["id"]
        return previous

    def replace(self, item: dict[str, Any]) -> None:
        """Store the final state of an item already in the conversation (not one deleted meanwhile)."""
        if item["id"] in self._items:
            self._items[item["id"]] = item

    def delete(self, item_id: str) -> None:
        del self._items[item_id]
        self._audio_ms.pop(item_id, None)
        if self._last_id == item_id:
            self._last_id = next(reversed(self._items), None)

    def note_audio(self, item_id: str, ms: int) -> None:
        """The assistant item `item_id` has `ms` milliseconds of audio so far."""
        self._audio_ms[item_id] = ms

    def audio_ms(self, item_id: str) -> int:
        return self._audio_ms.get(item_id, 0)
