"""A local OpenAI-compatible Realtime emulator: a scripted interviewer with faults on demand.

``async with Emulator("default") as emu:`` then point any realtime client at ``emu.realtime_url`` (or
``AsyncOpenAI(base_url=emu.base_url)``); ``Emulator.in_thread(...)`` serves it from its own thread.
``InMemoryTransport(serve=serve_in_memory(scenario))`` runs the same conversation with no socket.
See docs/emulator.md.
"""

from interview_kit.emulator.app import Emulator, EmulatorThread
from interview_kit.emulator.inmemory import InMemoryEmulator, serve_in_memory

__all__ = ["Emulator", "EmulatorThread", "InMemoryEmulator", "serve_in_memory"]
