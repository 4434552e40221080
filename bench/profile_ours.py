"""`python -m bench.profile_ours e`: where our bot's turn goes, under the benchmark's own load.

Our bot runs exactly as `bench.run` starts it (same environment, same
activities). After a warm-up, py-spy samples it from outside while a fixed
number of turns run. `--gil` keeps only samples of the thread holding the
GIL: the bot is CPU-bound at 50 connections, so that is the time the turns
compete for, including the store's writer thread and the outbox worker.
py-spy rather than pyinstrument because it sees every thread and needs no
change to the bot.

Writes the collapsed stacks to `bench/results/profile-<system>.txt` (open
with speedscope or flamegraph.pl), the summary to `profile-<system>.json`,
and prints the largest shares.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.load import first_2xx, prepare, run_load
from bench.run import (
    HOST,
    REPO,
    RESULTS,
    Stub,
    _bot_env,
    _cpu_s,
    _free_port,
    stop_process,
    systems,
)

_LINE = re.compile(r":\d+\)")


def summarise(collapsed: Path, top: int = 25) -> dict[str, list[tuple[str, float]]]:
    """Shares of samples: self time by package, and inclusive time of our own functions."""
    by_package: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_LINE.sub(")", frame) for frame in stack.split(";")]
        by_package[_package(frames[-1])] += n
        for frame in set(frames):
            if re.search(r"\((bot|cards)/", frame):
                ours[frame] += n
    if total == 0:
        return {"self_by_package": [], "ours_inclusive": []}

    def shares(counter: collections.Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)]

    return {"self_by_package": shares(by_package), "ours_inclusive": shares(ours)}


def _package(frame: str) -> str:
    """`func (path/to/module.py)` -> the top-level package (or stdlib module) of the path."""
    match = re.search(r"\(([^)]*)\)$", frame)
    path = match.group(1) if match else frame
    path = re.sub(r".*site-packages/", "", path)
    path = re.sub(r".*/lib/python3\.\d+/", "", path)
    return path.split("/")[0]


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: make bench (or pip install -e '.[bench]')")
    return found


async def profile(key: str, turns: int, concurrency: int, rate: int) -> dict[str, object]:
    spy = _py_spy()
    system = next((s for s in systems() if s.key == key and s.uses_bot_env), None)
    if system is None:
        raise SystemExit(f"not one of our bot's systems: {key!r} (c, d or e)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"profile-{key}.txt"
    stub = Stub()
    port = _free_port()
    url = f"http://{HOST}:{port}/api/messages"
    factory = system.factory(stub.url)
    counter = iter(range(10**9, 2 * 10**9))
    env = _bot_env(port, Path(tempfile.mkdtemp(prefix=f"profile-{key}-")))
    bot = subprocess.Popen(system.argv, cwd=REPO, env=env)  # noqa: ASYNC220 - returns at once
    try:
        cold, _ = await first_2xx(
            url,
            lambda: json.dumps(factory(next(counter))[0]).encode(),
            since=time.perf_counter(),
            deadline_s=30,
        )
        if cold is None:
            raise RuntimeError("our bot did not answer within 30 s")
        await run_load(url, prepare(factory, 300), 10)
        proc = psutil.Process(bot.pid)
        sampler = subprocess.Popen(  # noqa: ASYNC220
            [
                *(spy, "record", "--pid", str(bot.pid), "--gil", "--nonblocking"),
                *("--rate", str(rate), "--format", "raw", "--output", str(out)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(1.0)  # py-spy attaches
        cpu0 = _cpu_s(proc)
        started = time.perf_counter()
        result = await run_load(url, prepare(factory, turns), concurrency)
        elapsed = time.perf_counter() - started
        cpu1 = _cpu_s(proc)
        stop_process(sampler, signal.SIGINT)  # py-spy writes its file on SIGINT
        ok = max(result.ok, 1)
        return {
            "system": system.name,
            "turns": result.ok,
            "non_2xx": result.non_2xx + result.errors,
            "concurrency": concurrency,
            "turns_per_s_while_sampled": round(result.ok / elapsed, 1),
            "cpu_ms_per_turn_while_sampled": round((cpu1 - cpu0) / ok * 1000, 2),
            "profile": str(out),
            **summarise(out),
        }
    finally:
        stop_process(bot)
        stub.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="profile our bot's turn under load (py-spy)")
    parser.add_argument("system", choices=["c", "d", "e"], nargs="?", default="e")
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rate", type=int, default=400, help="samples per second")
    args = parser.parse_args(argv)
    summary = asyncio.run(profile(args.system, args.turns, args.concurrency, args.rate))
    (RESULTS / f"profile-{args.system}.json").write_text(json.dumps(summary, indent=2))
    print(report(summary))


def report(summary: dict[str, object]) -> str:
    lines = [
        f"{summary['system']}: {summary['turns']} turns at {summary['concurrency']} connections, "
        f"{summary['non_2xx']} non-2xx",
        f"while sampled: {summary['turns_per_s_while_sampled']} turns/s, "
        f"{summary['cpu_ms_per_turn_while_sampled']} ms CPU a turn (py-spy adds some)",
        "",
        "% of GIL-holding samples, self, by package:",
    ]
    for name, share in summary["self_by_package"]:  # type: ignore[attr-defined]
        lines.append(f"  {share:5.1f}  {name}")
    lines += ["", "% of samples inside our functions (inclusive):"]
    for name, share in summary["ours_inclusive"]:  # type: ignore[attr-defined]
        lines.append(f"  {share:5.1f}  {name}")
    lines += ["", f"collapsed stacks: {summary['profile']}"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
