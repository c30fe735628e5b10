"""`interview-kit emulator`: serve until SIGINT/SIGTERM (or, with ``--until-stdin-closes``, until the
process that started it closes our stdin or dies); the first line of stdout is the base URL."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading

from interview_kit.config import ConfigError
from interview_kit.scenario import ScenarioError


def add_arguments_emulator(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default 0: any free port)")
    parser.add_argument("--scenario", default="default", help="a shipped scenario name or a TOML file path")
    parser.add_argument("--speed", type=float, default=None,
                        help="audio clock multiplier (default: the scenario's; 1 is real time)")
    parser.add_argument("--until-stdin-closes", action="store_true",
                        help="also stop when stdin closes (when the process that started it ends)")
    parser.add_argument(
        "--api-key", default=None, help="require this Bearer key from clients (default: accept any key)"
    )


async def _serve(args: argparse.Namespace) -> int:
    from interview_kit.emulator.app import Emulator
    from interview_kit.launch import demo_scenario

    emulator = Emulator(demo_scenario(args.scenario, args.speed), host=args.host, port=args.port,
                        api_key=args.api_key)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C still raises KeyboardInterrupt
            loop.add_signal_handler(sig, stop.set)
    if args.until_stdin_closes:
        def watch_stdin() -> None:
            sys.stdin.read()  # returns at EOF: the parent closed the pipe, or died
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
    async with emulator:
        print(emulator.base_url, flush=True)
        print(
            f"realtime: {emulator.realtime_url}  scenario: {emulator.scenario.name}  (Ctrl-C to stop)",
            file=sys.stderr,
            flush=True,
        )
        await stop.wait()
    return 0


def main(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_serve(args))
    except (FileNotFoundError, ScenarioError, ConfigError) as exc:
        print(f"interview-kit emulator: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"interview-kit emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
