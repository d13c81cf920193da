"""gunicorn settings for `bench/load.py --profile`: every request slower than 250 ms is profiled
with pyinstrument and its call tree kept in BENCH_PROFILE_DIR; `summary` lists the slowest.

Each request is timed under the profiler, which slows it: use a profiled run to see where the
time goes, not for the figures."""

import os
import time
from pathlib import Path

SLOW_MS = 250


def pre_request(worker, req):
    from pyinstrument import Profiler

    req.bench_profiler = Profiler(interval=0.001, async_mode="disabled")
    req.bench_started = time.perf_counter()
    req.bench_profiler.start()


def post_request(worker, req, environ, resp):
    profiler = getattr(req, "bench_profiler", None)
    if profiler is None:
        return
    profiler.stop()
    elapsed = (time.perf_counter() - req.bench_started) * 1000
    if elapsed < SLOW_MS:
        return
    folder = Path(os.environ["BENCH_PROFILE_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    path = req.path.strip("/").replace("/", "_") or "home"
    name = f"{elapsed:07.0f}ms-{path[:80]}-{worker.pid}-{time.monotonic_ns()}.txt"
    (folder / name).write_text(
        f"{req.method} {req.path}?{req.query} {elapsed:.0f} ms\n\n"
        + profiler.output_text(unicode=False, color=False, show_all=False)
    )


def summary(folder: Path, top: int = 5) -> str:
    """The slowest profiled requests and the count per path, for the load test's report."""
    files = sorted(folder.glob("*.txt"), reverse=True) if folder.exists() else []
    if not files:
        return "\nNo request took 250 ms or more under the profiler."
    by_path: dict[str, int] = {}
    for file in files:
        path = file.read_text().split("\n", 1)[0].split(" ")[1].split("?")[0]
        by_path[path] = by_path.get(path, 0) + 1
    lines = [f"\nProfiled {len(files)} requests of 250 ms or more, in {folder}. Slowest:"]
    lines += [f"  {file.read_text().splitlines()[0]}" for file in files[:top]]
    lines.append("Most often slow (path: requests):")
    common = sorted(by_path.items(), key=lambda item: -item[1])[:10]
    lines += [f"  {path}: {count}" for path, count in common]
    return "\n".join(lines)
