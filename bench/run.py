"""`python -m bench.run`: measure the bot against a bare aiohttp floor and the stock echo bot.

Why it is built this way:

- Every system is a separate process on loopback, started fresh each round, so
  cold start is measured from spawn to first 2xx and no system inherits
  another's warm caches.
- Systems are interleaved (a, b, c, d, e, then again) and the median of rounds
  is reported, because a shared 2-core machine drifts by tens of percent over
  minutes; ratios taken within one run are what the targets are stated in.
- Replies go to a connector stub in its own process; it checks that every turn
  produced its reply and reports its own CPU, which is not charged to the bot.
- A run fails (exit 1, loudly) on any non-2xx, transport error or missing reply:
  a fast wrong bot must never produce a good-looking table.

See docs/performance.md for the method and the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bench.load import (
    Factory,
    LoadResult,
    bench_user_id,
    first_2xx,
    message_activity,
    prepare,
    run_load,
)
from bot.devchat.samples import SAMPLE_REQUEST

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
HOST = "127.0.0.1"
ORDER_VERB = "order.send"


@dataclass(frozen=True)
class Plan:
    """How much work each window does. Fixed counts, so CPU per turn compares like with like."""

    rounds: int
    warmup: int
    requests: dict[int, int]

    @classmethod
    def full(cls) -> Plan:
        return cls(rounds=3, warmup=80, requests={1: 150, 50: 500})

    @classmethod
    def quick(cls) -> Plan:
        return cls(rounds=1, warmup=40, requests={1: 80, 50: 250})


@dataclass
class System:
    """One thing to measure: how to start it and what a turn sent to it looks like."""

    key: str
    name: str
    argv: list[str]
    #: Builds the request factory once the stub URL is known.
    factory: Callable[[str], Factory]
    uses_bot_env: bool = False
    skip_reason: str | None = None


@dataclass
class Window:
    """One load window (one system, one concurrency, one round)."""

    concurrency: int
    requests: int
    ok: int
    non_2xx: int
    errors: int
    missing_replies: int
    turns_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_turn: float
    stub_cpu_ms_per_turn: float
    statuses: dict[int, int]
    first_error: str | None = None
    #: What the connector stub received in this window, by kind (reply, update, member...),
    #: and how many TCP connections the bot opened to it.
    stub_received: dict[str, int] = field(default_factory=dict)


@dataclass
class RunOfSystem:
    """One start-to-stop of a system in one round."""

    round: int
    cold_start_ms: float | None
    idle_rss_mb: float | None = None
    peak_rss_mb: float | None = None
    warmup_non_2xx: int = 0
    warmup_missing: int = 0
    windows: list[Window] = field(default_factory=list)
    failure: str | None = None


# --------------------------------------------------------------------------- systems


def _text_factory(text: str, users: int = 50) -> Callable[[str], Factory]:
    def build(service_url: str) -> Factory:
        def make(i: int) -> tuple[dict[str, Any], str | None]:
            activity = message_activity(text, service_url=service_url, user=i % users)
            return activity, f"reply:{activity['id']}"

        return make

    return build


def _bare_factory(service_url: str) -> Factory:
    def make(i: int) -> tuple[dict[str, Any], str | None]:
        # The floor sends nothing to the connector, so no reply is expected.
        return message_activity("ICE is down", service_url=service_url, user=i % 50), None

    return make


def _order_factory(service_url: str) -> Factory:
    """An Action.Submit of the request form: a message with `value` and the card's id."""

    def make(i: int) -> tuple[dict[str, Any], str | None]:
        card_id = f"bench-card-{uuid.uuid4().hex}"
        value = {"verb": ORDER_VERB, **order_submission(i)}
        activity = message_activity(
            "", service_url=service_url, user=i % 50, value=value, reply_to_id=card_id
        )
        return activity, f"reply:{activity['id']}|update:{card_id}"

    return make


BENCH_REQUEST = SAMPLE_REQUEST  # a complete KCH ultrasound request, test-range NHS number


def order_submission(i: int) -> dict[str, Any]:
    """The Send of one request: the form's fields, a fresh form id, the sender as owner.

    A fresh `form_id` per request, because a repeated one is (rightly) treated
    as the same request and commits nothing.
    """
    return {
        **BENCH_REQUEST,
        "form_id": f"bench-{i}-{uuid.uuid4().hex[:12]}",
        "owner": bench_user_id(i % 50),
    }


def systems() -> list[System]:
    py = sys.executable
    have_app = (REPO / "app.py").exists()
    no_app = None if have_app else "app.py is not on this branch yet (not available yet)"
    return [
        System("a", "bare aiohttp (floor)", [py, "-m", "bench.bare"], _bare_factory),
        System("b", "stock echo bot (peer)", [py, "-m", "bench.echo_bot"], _text_factory("hi")),
        System(
            "c",
            "our bot: ICE is down",
            [py, "app.py"],
            _text_factory("ICE is down"),
            uses_bot_env=True,
            skip_reason=no_app,
        ),
        System(
            "d",
            "our bot: mailbox kings ultrasound",
            [py, "app.py"],
            _text_factory("mailbox kings ultrasound"),
            uses_bot_env=True,
            skip_reason=no_app,
        ),
        System(
            "e",
            "our bot: request submission",
            [py, "app.py"],
            _order_factory,
            uses_bot_env=True,
            skip_reason=no_app,
        ),
    ]


def _detect_order() -> str | None:
    """Ask the bot's own router whether it accepts `order.send`; None means it does.

    Asked in a subprocess so the harness never imports the bot it measures.
    """
    code = f"from bot.handlers import build_router\nprint({ORDER_VERB!r} in build_router().verbs)\n"
    try:
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "timed out asking bot.handlers.build_router() for its verbs"
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return f"bot.handlers.build_router() is not importable ({last}) (not available yet)"
    if out.stdout.strip() != "True":
        return f"the router has no {ORDER_VERB!r} verb (not available yet)"
    if not order_submission(0):
        return (
            f"{ORDER_VERB!r} is registered but bench.run.order_submission() has no form "
            "fields yet: fill it from the order card's inputs"
        )
    return None


# --------------------------------------------------------------------------- processes


def stop_process(popen: subprocess.Popen[Any], signum: int = signal.SIGTERM) -> None:
    """Ask a server to stop (it shuts down cleanly on SIGTERM/SIGINT); kill it after 10 s."""
    popen.send_signal(signum)
    try:
        popen.wait(10)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _bot_env(port: int, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MicrosoftApp")}
    env.update(
        DEV_MODE="true",
        PORT=str(port),
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp}/bench.db",
        MAIL_TRANSPORT="file",
        MAIL_DIR=str(tmp / "mail"),
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        # The benchmark measures the cost of a turn, not the per-user flood and
        # hourly limits (which would answer most of 50 users' turns with "slow down").
        MAX_MESSAGES_PER_MINUTE="1000000",
        MAX_REQUESTS_PER_HOUR="1000000",
    )
    return env


def _release_step(env: dict[str, str]) -> None:
    """Migrate the bot's fresh database before the clock starts, as a deployment does.

    Production applies migrations as a release step and an instance then
    starts against a current schema; that start is the cold start measured.
    (In development mode the bot would migrate an empty database itself, at
    about 0.1-0.2 s more, once.)
    """
    subprocess.run(
        [sys.executable, "-m", "bot.store.migrations", "upgrade"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )


def _cpu_s(proc: psutil.Process) -> float:
    """User+system CPU of the server and any children it started."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def _rss_mb(proc: psutil.Process) -> float:
    return proc.memory_info().rss / 2**20


def _peak_rss_mb(proc: psutil.Process) -> float | None:
    """The kernel's high-water mark (VmHWM): exact, unlike sampling during load."""
    try:
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Stub:
    """The connector stub process and its control endpoints."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.connector_stub", "--host", HOST, "--port", "0"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"connector stub did not start: {line!r}")
        self.url = f"http://{HOST}:{int(line.split()[1])}"

    async def reset(self, session: aiohttp.ClientSession) -> float:
        async with session.post(f"{self.url}/_bench/reset") as r:
            return float((await r.json())["cpu_s"])

    async def stats(self, session: aiohttp.ClientSession) -> tuple[float, dict[str, int]]:
        """The stub's own CPU seconds so far and what it received since the last reset."""
        async with session.get(f"{self.url}/_bench/stats") as r:
            data = await r.json()
        counts = {k: int(v) for k, v in data["counts"].items()}
        counts["tcp_connections"] = int(data.get("connections", 0))
        return float(data["cpu_s"]), counts

    async def missing(
        self, session: aiohttp.ClientSession, keys: list[str], wait_s: float = 5.0
    ) -> int:
        """Misses after waiting up to `wait_s`: a bot may send replies after answering HTTP."""
        deadline = time.perf_counter() + wait_s
        while True:
            async with session.post(f"{self.url}/_bench/check", json=keys) as r:
                missing = int((await r.json())["missing"])
            if missing == 0 or time.perf_counter() > deadline:
                return missing
            await asyncio.sleep(0.05)

    def close(self) -> None:
        stop_process(self.proc)


# --------------------------------------------------------------------------- measuring


async def measure(
    system: System, plan: Plan, stub: Stub, round_no: int, log_dir: Path
) -> RunOfSystem:
    port = _free_port()
    url = f"http://{HOST}:{port}/api/messages"
    factory = system.factory(stub.url)
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{system.key}-", dir=log_dir))
    env = _bot_env(port, tmp) if system.uses_bot_env else {**os.environ, "PORT": str(port)}
    argv = system.argv  # every system reads PORT from its environment, as the sample does
    log_path = tmp / "server.log"
    counter = iter(range(10**9, 2 * 10**9))
    if system.uses_bot_env:
        _release_step(env)

    def probe_body() -> bytes:
        return json.dumps(factory(next(counter))[0]).encode()

    async with aiohttp.ClientSession() as control:
        with log_path.open("wb") as log:
            t0 = time.perf_counter()
            # Popen only forks and returns; psutil needs the plain pid to watch CPU and RSS.
            popen = subprocess.Popen(  # noqa: ASYNC220
                argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        proc = psutil.Process(popen.pid)
        run = RunOfSystem(round=round_no, cold_start_ms=None)
        try:
            cold, _ = await first_2xx(url, probe_body, since=t0, deadline_s=30)
            if cold is None:
                run.failure = f"no 2xx within 30 s of spawn; log tail:\n{_tail(log_path)}"
                return run
            run.cold_start_ms = cold * 1000

            await stub.reset(control)
            warm = prepare(factory, plan.warmup)
            wres = await run_load(url, warm, 10)
            run.warmup_non_2xx = wres.non_2xx + wres.errors
            run.warmup_missing = await stub.missing(control, wres.expected_keys)
            await asyncio.sleep(0.5)
            run.idle_rss_mb = _rss_mb(proc)

            for conc, count in plan.requests.items():
                reqs = prepare(factory, count)
                stub_cpu0 = await stub.reset(control)
                cpu0 = _cpu_s(proc)
                res = await run_load(url, reqs, conc)
                missing = await stub.missing(control, res.expected_keys)
                cpu1 = _cpu_s(proc)
                stub_cpu1, received = await stub.stats(control)
                window = _window(conc, res, missing, cpu1 - cpu0, stub_cpu1 - stub_cpu0)
                window.stub_received = received
                run.windows.append(window)
                if res.non_2xx or res.errors:
                    print(f"   ! {system.key} c={conc}: {res.statuses} {res.first_error}")
                    print(_tail(log_path))
            run.peak_rss_mb = _peak_rss_mb(proc)
            return run
        finally:
            stop_process(popen)


def _window(conc: int, res: LoadResult, missing: int, cpu_s: float, stub_cpu_s: float) -> Window:
    turns = max(res.ok, 1)
    return Window(
        concurrency=conc,
        requests=res.requests,
        ok=res.ok,
        non_2xx=res.non_2xx,
        errors=res.errors,
        missing_replies=missing,
        turns_per_s=res.turns_per_s,
        p50_ms=res.percentile(50) * 1000,
        p99_ms=res.percentile(99) * 1000,
        cpu_ms_per_turn=cpu_s / turns * 1000,
        stub_cpu_ms_per_turn=stub_cpu_s / turns * 1000,
        statuses=res.statuses,
        first_error=res.first_error,
    )


# --------------------------------------------------------------------------- reporting


def _median(values: list[float | None]) -> float | None:
    clean = [v for v in values if v is not None]
    return statistics.median(clean) if clean else None


def summarise(runs: list[RunOfSystem], levels: list[int]) -> dict[str, Any]:
    """Median of rounds per metric; correctness counts are summed, never medianed."""
    out: dict[str, Any] = {
        "cold_start_ms": _median([r.cold_start_ms for r in runs]),
        "idle_rss_mb": _median([r.idle_rss_mb for r in runs]),
        "peak_rss_mb": _median([r.peak_rss_mb for r in runs]),
        "non_2xx": sum(r.warmup_non_2xx for r in runs),
        "missing_replies": sum(r.warmup_missing for r in runs),
        "failures": [r.failure for r in runs if r.failure],
        "levels": {},
    }
    for conc in levels:
        ws = [w for r in runs for w in r.windows if w.concurrency == conc]
        if not ws:
            continue
        out["non_2xx"] += sum(w.non_2xx + w.errors for w in ws)
        out["missing_replies"] += sum(w.missing_replies for w in ws)
        out["levels"][str(conc)] = {
            k: _median([getattr(w, k) for w in ws])
            for k in ("turns_per_s", "p50_ms", "p99_ms", "cpu_ms_per_turn", "stub_cpu_ms_per_turn")
        }
    return out


def _fmt(v: float | None, spec: str = ".1f") -> str:
    return "—" if v is None else format(v, spec)


def _ratio(x: float | None, y: float | None) -> float | None:
    return None if x is None or y is None or y == 0 else x / y


def ratios(summary: dict[str, dict[str, Any]], levels: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, s in summary.items():
        if not s.get("levels"):
            continue
        out[key] = {}
        for conc in levels:
            lv = s["levels"].get(str(conc))
            if lv is None:
                continue
            a = summary.get("a", {}).get("levels", {}).get(str(conc), {})
            b = summary.get("b", {}).get("levels", {}).get(str(conc), {})
            out[key][str(conc)] = {
                "throughput_vs_a": _ratio(lv["turns_per_s"], a.get("turns_per_s")),
                "throughput_vs_b": _ratio(lv["turns_per_s"], b.get("turns_per_s")),
                "p99_vs_b": _ratio(lv["p99_ms"], b.get("p99_ms")),
                "cpu_vs_a": _ratio(lv["cpu_ms_per_turn"], a.get("cpu_ms_per_turn")),
                "cpu_vs_b": _ratio(lv["cpu_ms_per_turn"], b.get("cpu_ms_per_turn")),
            }
    return out


def targets(summary: dict[str, dict[str, Any]], rat: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets (docs/performance.md), checked only for the systems that were measured."""
    checks: list[dict[str, Any]] = []

    def add(name: str, value: float | None, limit: float, higher_is_better: bool) -> None:
        ok = None if value is None else (value >= limit if higher_is_better else value <= limit)
        checks.append({"target": name, "value": value, "limit": limit, "met": ok})

    for key in ("c", "d"):
        if key in rat and "50" in rat[key]:
            add(
                f"({key}) throughput at 50 conns ≥ 5× (b)",
                rat[key]["50"]["throughput_vs_b"],
                5,
                True,
            )
            add(f"({key}) p99 at 50 conns ≤ 1/5 of (b)", rat[key]["50"]["p99_vs_b"], 0.2, False)
    if "e" in rat and "50" in rat["e"]:
        add("(e) throughput at 50 conns ≥ 2× (b)", rat["e"]["50"]["throughput_vs_b"], 2, True)
    for key in ("c", "d", "e"):
        s = summary.get(key, {})
        if s.get("levels"):
            add(f"({key}) idle RSS < 120 MB", s["idle_rss_mb"], 120, False)
            add(f"({key}) cold start < 1500 ms", s["cold_start_ms"], 1500, False)
    return checks


def print_report(
    names: dict[str, str],
    summary: dict[str, dict[str, Any]],
    rat: dict[str, Any],
    checks: list[dict[str, Any]],
    levels: list[int],
) -> None:
    head = (
        f"{'system':<36} {'conns':>5} {'turns/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CPU ms/turn':>11} {'stub ms':>8} {'×a tput':>8} {'×b tput':>8} {'p99/b':>6}"
    )
    print()
    print(head)
    print("-" * len(head))
    for key, s in summary.items():
        label = f"({key}) {names[key]}"
        if s.get("skipped"):
            print(f"{label:<36} skipped: {s['skipped']}")
            continue
        for conc in levels:
            lv = s["levels"].get(str(conc))
            if lv is None:
                continue
            r = rat.get(key, {}).get(str(conc), {})
            print(
                f"{label:<36} {conc:>5} {_fmt(lv['turns_per_s'], '.0f'):>9} "
                f"{_fmt(lv['p50_ms'], '.2f'):>8} {_fmt(lv['p99_ms'], '.2f'):>8} "
                f"{_fmt(lv['cpu_ms_per_turn'], '.3f'):>11} "
                f"{_fmt(lv['stub_cpu_ms_per_turn'], '.3f'):>8} "
                f"{_fmt(r.get('throughput_vs_a'), '.2f'):>8} "
                f"{_fmt(r.get('throughput_vs_b'), '.2f'):>8} "
                f"{_fmt(r.get('p99_vs_b'), '.2f'):>6}"
            )
            label = ""
    print()
    print(f"{'system':<36} {'cold start ms':>13} {'idle RSS MB':>12} {'peak RSS MB':>12}")
    for key, s in summary.items():
        if s.get("skipped"):
            continue
        print(
            f"({key}) {names[key]:<32} {_fmt(s['cold_start_ms'], '.0f'):>13} "
            f"{_fmt(s['idle_rss_mb']):>12} {_fmt(s['peak_rss_mb']):>12}"
        )
    if checks:
        print("\nTargets (ratios within this run):")
        for c in checks:
            mark = {True: "met", False: "NOT MET", None: "—"}[c["met"]]
            print(f"  {mark:>7}  {c['target']}: {_fmt(c['value'], '.2f')}")


def plot(
    path: Path, names: dict[str, str], summary: dict[str, dict[str, Any]], levels: list[int]
) -> None:
    """Two panels, throughput and p99, log scale: the systems differ by orders of magnitude."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k, s in summary.items() if s.get("levels")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.8 / len(levels)
    colours = ["#005eb8", "#ed8b00"]
    for ax, metric, title in (
        (axes[0], "turns_per_s", "Throughput (turns/s, higher is better)"),
        (axes[1], "p99_ms", "p99 latency (ms, lower is better)"),
    ):
        for j, conc in enumerate(levels):
            xs = [i + (j - (len(levels) - 1) / 2) * width for i in range(len(keys))]
            ys = [summary[k]["levels"].get(str(conc), {}).get(metric) or 0 for k in keys]
            bars = ax.bar(xs, ys, width, label=f"{conc} conn", color=colours[j % len(colours)])
            fmt = "{:.0f}" if metric == "turns_per_s" else "{:.1f}"
            ax.bar_label(bars, labels=[fmt.format(y) for y in ys], fontsize=7, padding=1)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels(
            [f"({k})\n" + textwrap.fill(names[k].split(":")[-1].strip(), 14) for k in keys],
            fontsize=8,
        )
        ax.grid(axis="y", which="both", alpha=0.25)
        ax.legend(fontsize=8)
    fig.suptitle(
        "ICE Downtime Assistant benchmark (median of rounds, loopback, 2 cores)", fontsize=11
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- main


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in (
        "aiohttp",
        "botbuilder-core",
        "botbuilder-integration-aiohttp",
        "msrest",
        "requests",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def _git_commit() -> str | None:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or None


async def bench(args: argparse.Namespace) -> int:
    plan = Plan.quick() if args.quick else Plan.full()
    if args.rounds:
        plan = Plan(args.rounds, plan.warmup, plan.requests)
    levels = list(plan.requests)
    chosen = [s for s in systems() if s.key in args.only]
    for s in chosen:
        if s.key == "e" and s.skip_reason is None:
            s.skip_reason = _detect_order()
    names = {s.key: s.name for s in chosen}
    for s in chosen:
        if s.skip_reason:
            print(f"({s.key}) {s.name}: SKIPPED — {s.skip_reason}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    commit_at_start = _git_commit()
    runs: dict[str, list[RunOfSystem]] = {s.key: [] for s in chosen}
    started = time.perf_counter()
    stub = Stub()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        try:
            for rnd in range(1, plan.rounds + 1):
                for s in chosen:
                    if s.skip_reason:
                        continue
                    t = time.perf_counter()
                    run = await measure(s, plan, stub, rnd, Path(tmp))
                    runs[s.key].append(run)
                    brief = " ".join(f"c{w.concurrency}={w.turns_per_s:.0f}/s" for w in run.windows)
                    print(
                        f"round {rnd}/{plan.rounds} ({s.key}) {s.name:<34} "
                        f"{brief}  [{time.perf_counter() - t:.1f}s]",
                        flush=True,
                    )
                    if run.failure:
                        print(f"   !!! ({s.key}) FAILED: {run.failure}", flush=True)
        finally:
            stub.close()

    summary: dict[str, dict[str, Any]] = {}
    for s in chosen:
        summary[s.key] = (
            {"skipped": s.skip_reason} if s.skip_reason else summarise(runs[s.key], levels)
        )
    rat = ratios(summary, levels)
    checks = targets(summary, rat)
    print_report(names, summary, rat, checks, levels)

    problems = []
    for key, s in summary.items():
        if s.get("skipped"):
            continue
        if s["failures"]:
            problems.append(f"({key}) failed to run: {s['failures'][0]}")
        if s["non_2xx"]:
            problems.append(f"({key}) {s['non_2xx']} non-2xx responses or transport errors")
        if s["missing_replies"]:
            problems.append(
                f"({key}) {s['missing_replies']} expected replies never reached the stub"
            )

    commit_at_end = _git_commit()
    if commit_at_end != commit_at_start:
        # Each round spawns the bot from the working tree: a commit landing mid-run
        # means the rounds measured different code, and the medians mix them.
        print(f"\nWARNING: HEAD moved during the run ({commit_at_start} -> {commit_at_end})")
    result = {
        "when": datetime.now(UTC).isoformat(),
        "commit": commit_at_start,
        "commit_at_end": commit_at_end,
        "host": {"cpus": os.cpu_count(), "platform": platform.platform(), **_versions()},
        "plan": asdict(plan),
        "elapsed_s": time.perf_counter() - started,
        "systems": {k: {"name": names[k], **summary[k]} for k in summary},
        "runs": {k: [asdict(r) for r in v] for k, v in runs.items()},
        "ratios": rat,
        "targets": checks,
        "correct": not problems,
        "problems": problems,
    }
    out_json = RESULTS / "latest.json"
    out_json.write_text(json.dumps(result, indent=2))
    out_png = RESULTS / "latest.png"
    plot(out_png, names, summary, levels)
    print(
        f"\nwrote {out_json.relative_to(REPO)} and {out_png.relative_to(REPO)} "
        f"({result['elapsed_s']:.0f} s)"
    )

    if problems:
        print("\n" + "!" * 72)
        print("BENCHMARK RUN IS NOT VALID: correctness failures")
        for p in problems:
            print(f"  - {p}")
        print("!" * 72)
        return 1
    print("correctness: zero non-2xx, every expected reply received by the connector stub")
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="bot load benchmark (docs/performance.md)")
    parser.add_argument("--quick", action="store_true", help="one short round (~1 min)")
    parser.add_argument("--rounds", type=int, default=0, help="override the number of rounds")
    parser.add_argument(
        "--only", default="abcde", help="systems to run, e.g. 'ab' (default: abcde)"
    )
    args = parser.parse_args(argv)
    sys.exit(asyncio.run(bench(args)))


if __name__ == "__main__":
    main()
