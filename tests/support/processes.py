"""The real bot as a separate process (`python app.py`), spoken to over HTTP and killed for real.

`BotProcess` starts it with an environment of the test's choosing, waits for
`/healthz`, keeps its log, and kills it with SIGKILL (no cleanup, no finishing
the send under way). `RemoteApp` lets `tests.support.teams.BotHarness` talk to
it as it talks to an in-process app.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.smtp import free_port
from tests.support.waiting import until

REPO = Path(__file__).resolve().parents[2]
#: `python app.py`, as production runs it.
APP = (str(REPO / "app.py"),)


def run_until_exit(
    cwd: Path, settings: Mapping[str, str], *, unset: Iterable[str] = ()
) -> subprocess.CompletedProcess[str]:
    """`python app.py` run to its end (a refusal to start), its output kept.

    Run from `cwd` so no `.env` is read; the environment is this process's
    without the names in `settings` or `unset` (in any case, as the settings
    read them), plus `settings`.
    """
    dropped = {name.lower() for name in (*settings, *unset)}
    env = {name: value for name, value in os.environ.items() if name.lower() not in dropped}
    env |= {**settings, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, *APP], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


class RemoteApp:
    """Enough of aiohttp's TestClient for BotHarness: POSTs to a bot in another process.

    `headers` (e.g. a fresh channel token) is added to every request that sets none.
    """

    def __init__(
        self,
        base: str,
        session: aiohttp.ClientSession,
        headers: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self._base = base
        self._session = session
        self._headers = headers

    async def post(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        if self._headers is not None and not kwargs.get("headers"):
            kwargs["headers"] = dict(self._headers())
        response = await self._session.post(self._base + path, **kwargs)
        await response.read()
        return response


class BotProcess:
    """One bot process on its own port; `env` is all it sees (no `.env`: it runs in `workdir`)."""

    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str],
        *,
        name: str = "bot",
        command: tuple[str, ...] = APP,
    ) -> None:
        self.workdir = workdir
        self.name = name
        self.port = free_port()
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(REPO),
            "PORT": str(self.port),
            "LOG_LEVEL": "INFO",
            **env,
        }
        self.command = command
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def start(self, session: aiohttp.ClientSession, seconds: float = 30) -> None:
        self.process = self._spawn()
        async with asyncio.timeout(seconds):
            while True:
                assert self.process.poll() is None, self.log_tail()
                try:
                    async with session.get(self.base + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.runs += 1
        with (self.workdir / f"{self.name}-{self.runs}.log").open("wb") as log:
            return subprocess.Popen(
                [sys.executable, *self.command],
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL: no cleanup, no finishing the send under way."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def log_tail(self) -> str:
        logs = sorted(self.workdir.glob(f"{self.name}-*.log"))
        return "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:] for p in logs)


async def until_or_logs(condition: Callable[[], Any], seconds: float, *bots: BotProcess) -> None:
    """`until`, but a time-out fails with the bots' log tails: what they were doing instead."""
    try:
        await until(condition, seconds)
    except TimeoutError:
        raise AssertionError("timed out; logs:\n" + "\n".join(b.log_tail() for b in bots)) from None
