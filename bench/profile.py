"""`python -m bench.profile`: where a stock echo bot's turn goes, measured rather than assumed.

Two views, because pyinstrument samples only the thread it runs in:

1. pyinstrument on the server's event-loop thread, started after warm-up
   (so imports and first-call caches are not in the profile) and stopped after
   a fixed number of turns.
2. CPU per turn split by thread, read from outside with psutil: the event-loop
   thread versus the executor threads where msrest runs `requests`. This says
   how much of the turn the loop-thread profile cannot see.

Plus micro-timings of the per-turn objects suspected of the cost (ConnectorClient,
UserTokenClient, a fresh `requests.Session`), each on its own.

The server side runs as `python -m bench.profile --serve [echo|bot]` with two
extra routes (`/_profile/start`, `/_profile/stop`); the turn path is untouched.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import timeit
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from aiohttp import web

from bench.load import first_2xx, message_activity, prepare, run_load
from bench.run import REPO, RESULTS, Stub, _free_port, stop_process

HOST = "127.0.0.1"


def _add_profile_routes(app: web.Application, out: Path) -> None:
    """Start/stop a pyinstrument profiler on the loop thread from the harness."""
    from pyinstrument import Profiler

    holder: dict[str, Profiler] = {}

    async def start(request: web.Request) -> web.Response:
        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
        holder["p"] = profiler
        return web.Response(text="started")

    async def stop(request: web.Request) -> web.Response:
        profiler = holder.pop("p")
        profiler.stop()
        texts = {
            out: profiler.output_text(unicode=True, color=False, show_all=False),
            out.with_suffix(".full.txt"): profiler.output_text(color=False, show_all=True),
            out.with_suffix(".html"): profiler.output_html(),
        }
        for path, text in texts.items():
            await asyncio.to_thread(path.write_text, text)
        return web.Response(text=str(out))

    app.router.add_post("/_profile/start", start)
    app.router.add_post("/_profile/stop", stop)


def serve(target: str, port: int, out: Path) -> None:
    if target == "echo":
        from bench.echo_bot import build_app

        app = build_app()
    else:
        raise SystemExit(f"unknown target {target!r}")
    _add_profile_routes(app, out)
    web.run_app(app, host=HOST, port=port, print=None, access_log=None)


def _thread_cpu(proc: psutil.Process) -> tuple[float, float]:
    """(loop thread, all other threads) CPU seconds; the loop thread's id is the pid."""
    main = other = 0.0
    for t in proc.threads():
        if t.id == proc.pid:
            main += t.user_time + t.system_time
        else:
            other += t.user_time + t.system_time
    return main, other


def micro_timings() -> dict[str, float]:
    """Microseconds per construction of what a stock turn builds afresh."""
    import requests
    from botframework.connector.aio import ConnectorClient
    from botframework.connector.auth import MicrosoftAppCredentials

    creds = MicrosoftAppCredentials("", "")
    n = 200
    out = {
        "ConnectorClient(...)": timeit.timeit(
            lambda: ConnectorClient(creds, base_url="http://127.0.0.1:1"), number=n
        ),
        "requests.Session()": timeit.timeit(requests.Session, number=n),
    }
    try:
        from botframework.connector.auth import (
            _user_token_client_impl,  # type: ignore[attr-defined]
        )

        impl = _user_token_client_impl._UserTokenClientImpl
        out["UserTokenClient(...)"] = timeit.timeit(
            lambda: impl("", creds, "https://token.botframework.com"), number=n
        )
    except (ImportError, AttributeError, TypeError) as exc:
        print(f"(UserTokenClient timing skipped: {exc})")
    return {k: v / n * 1e6 for k, v in out.items()}


async def profile(turns: int, concurrency: int) -> dict[str, Any]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "profile-echo.txt"
    stub = Stub()
    port = _free_port()
    url = f"http://{HOST}:{port}/api/messages"
    popen = subprocess.Popen(  # noqa: ASYNC220 - returns at once; psutil needs the pid
        [
            sys.executable,
            "-m",
            "bench.profile",
            "--serve",
            "echo",
            "--port",
            str(port),
            "--out",
            str(out),
        ],
        cwd=REPO,
        env={**os.environ},
    )
    try:
        proc = psutil.Process(popen.pid)

        def factory(i: int) -> tuple[dict[str, Any], str | None]:
            activity = message_activity("hi", service_url=stub.url, user=i % 50)
            return activity, f"reply:{activity['id']}"

        cold, _ = await first_2xx(
            url,
            lambda: json.dumps(factory(0)[0]).encode(),
            since=time.perf_counter(),
            deadline_s=30,
        )
        if cold is None:
            raise RuntimeError("echo bot did not start")
        await run_load(url, prepare(factory, 50), 10)
        reqs = prepare(factory, turns)
        async with aiohttp.ClientSession() as control:
            await stub.reset(control)
            await control.post(f"http://{HOST}:{port}/_profile/start")
            main0, other0 = _thread_cpu(proc)
            res = await run_load(url, reqs, concurrency)
            main1, other1 = _thread_cpu(proc)
            await control.post(f"http://{HOST}:{port}/_profile/stop")
            missing = await stub.missing(control, res.expected_keys)
            _, received = await stub.stats(control)
        ok = max(res.ok, 1)
        return {
            "turns": res.ok,
            "non_2xx": res.non_2xx + res.errors,
            "missing_replies": missing,
            "concurrency": concurrency,
            "loop_thread_cpu_ms_per_turn": (main1 - main0) / ok * 1000,
            "executor_threads_cpu_ms_per_turn": (other1 - other0) / ok * 1000,
            "threads_at_end": proc.num_threads(),
            "stub_received": received,
            "profile": str(out),
        }
    finally:
        stop_process(popen, signal.SIGINT)  # run_app shuts down cleanly on SIGINT
        stub.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="profile the stock echo bot's turn")
    parser.add_argument("--serve", choices=["echo"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--turns", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.out)
        return
    summary = asyncio.run(profile(args.turns, args.concurrency))
    summary["micro_us"] = micro_timings()
    print(json.dumps(summary, indent=2))
    print(f"\nloop-thread profile: {summary['profile']} (and .html)")


if __name__ == "__main__":
    main()
