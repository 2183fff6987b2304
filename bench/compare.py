#!/usr/bin/env python3
"""The driver of bench/compare.sh (run that; it builds and sets up what this needs).

Measures the function, the ceiling (bench/ceiling) and, when given, the tutorial stack
(bench/tutorial) one server at a time on this machine, and prints one markdown table with
the ratios and issue 9's targets. Python standard library only.
"""
import argparse
import ctypes
import datetime
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import cold_start  # bench/cold_start.py, beside this file

ROOT = Path(__file__).resolve().parent.parent
SINGLE = ROOT / "bench" / "predict.lua"
BATCH = ROOT / "bench" / "batch.lua"
CONNECTIONS = (1, 16, 256)
# wrk threads per connection count. wrk shares the 2 cores with the server it measures:
# one thread leaves the server a core at 1 and 16 connections (in a check, a second one
# bought the ceiling ~8% more requests/s at 16 connections and doubled its p99); at 256
# connections one wrk thread was the bottleneck (the ceiling: 27,000-33,000 requests/s
# with -t1, 36,000 with -t2).
WRK_THREADS = {1: 1, 16: 1, 256: 2}
# Long enough that no request of the tutorial stack's (seconds at 256 connections) is
# cut off: wrk leaves timed-out requests out of its latency percentiles.
WRK_TIMEOUT = "30s"
MB = 1e6  # MB are 10^6 bytes throughout, as tests/container/run.sh prints them

# Issue 9's targets on a 2-core machine.
TARGET_TUTORIAL_X = 300
TARGET_CEILING_SHARE = 0.70
TARGET_P99_X = 1.5
TARGET_BATCH_ROWS_S = 1e6
TARGET_COLD_MS = 5.0
TARGET_RSS = 15 * MB


class Server:
    """A server to measure: its command line ({port} is filled in) and what it takes."""

    def __init__(self, name, command, cwd=None, batch=False, cold_runs=20, cold_timeout=10.0):
        self.name, self.command, self.cwd = name, command, cwd
        self.batch, self.cold_runs, self.cold_timeout = batch, cold_runs, cold_timeout


def die_with_parent():
    """Runs in the child before exec: SIGKILL it if this driver dies, even by SIGKILL, so
    no server or wrk outlives a run (`finally` and subprocess.run cover the other ways
    out). Not used for cold starts: a plain spawn is what they time."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def start(server, port, log):
    argv = [a.replace("{port}", str(port)) for a in server.command]
    # Output to a file, never a pipe nobody reads (a full pipe would stall the server).
    return subprocess.Popen(
        argv, cwd=server.cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        env=cold_start.server_env(), preexec_fn=die_with_parent,
    )


def post(port, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def check_answers(server, proc, port, timeout):
    """Waits for the first 200, then checks the benchmark row's answer."""
    if not cold_start.first_200(port, time.perf_counter() + timeout):
        raise RuntimeError(f"{server.name}: no 200 on POST /predict within {timeout:g} s"
                           + ("" if proc.poll() is None else f" (exited {proc.returncode})"))
    status, body = post(port, cold_start.BODY)
    if status != 200 or json.loads(body) != {"prediction": [0]}:
        raise RuntimeError(f"{server.name}: POST /predict answered {status} {body[:200]!r}")


def rss(pid):
    """VmRSS of `pid` plus that of its child processes (uvicorn --workers N > 1 forks
    workers; with 1 it serves in-process): (bytes, number of children)."""
    def vmrss(p):
        with open(f"/proc/{p}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += (task / "children").read_text().split()
    return vmrss(pid) + sum(vmrss(c) for c in children), len(children)


UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6}


def parse_wrk(text):
    """wrk --latency's report -> requests/s, p50/p99 in us, errors."""
    def number(pattern):
        match = re.search(pattern, text, re.M)
        return match and match.groups()
    out = {"rps": float(number(r"^Requests/sec:\s+([\d.]+)")[0]), "errors": 0}
    for pct in ("50", "99"):
        value, unit = number(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$")
        out[f"p{pct}"] = float(value) * UNITS[unit]
    socket = number(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
    non2xx = number(r"Non-2xx or 3xx responses: (\d+)")
    out["errors"] = sum(map(int, socket or ())) + int(non2xx[0] if non2xx else 0)
    return out


def cpu_seconds(pid):
    """User + system CPU time of the process (all its threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Idle time before each "after" memory reading: a server frees a closed connection's
# memory when it notices the close (the function also hands it back to the kernel then),
# which can be a few milliseconds after wrk exits. The same wait for every server.
SETTLE_SECONDS = 1.0


def settled_rss(pid):
    time.sleep(SETTLE_SECONDS)
    return rss(pid)


def peak_rss_during(pid, run):
    """Calls `run()` while sampling the RSS of `pid` every 50 ms; returns (its result,
    the largest RSS seen)."""
    peak, done = [0], threading.Event()

    def sample():
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss(pid)[0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        return run(), peak[0]
    finally:
        done.set()
        sampler.join()


def wrk(port, script, connections, seconds, env=None, pid=None):
    """One wrk run; with `pid`, also the server's CPU time per request (us)."""
    argv = ["wrk", f"-t{WRK_THREADS[connections]}", f"-c{connections}", f"-d{seconds}s",
            "--latency", "--timeout", WRK_TIMEOUT, "-s", str(script),
            f"http://127.0.0.1:{port}/predict"]
    cpu = cpu_seconds(pid) if pid else 0.0
    run = subprocess.run(argv, capture_output=True, text=True, env=env, check=False,
                         preexec_fn=die_with_parent)
    if run.returncode != 0:
        raise RuntimeError(f"wrk failed ({run.returncode}): {run.stderr.strip()}")
    result = parse_wrk(run.stdout)
    requests = re.search(r"^\s+(\d+) requests in", run.stdout, re.M)
    if pid and requests and int(requests.group(1)):
        result["cpu_us"] = (cpu_seconds(pid) - cpu) * 1e6 / int(requests.group(1))
    return result


def measure_load(server, args, logs):
    """Warm-up, RSS, the wrk runs, RSS again; one server, stopped at the end."""
    port = cold_start.free_port()
    say(f"{server.name}: starting on port {port}")
    with open(logs / f"{server.name}.log", "wb") as log:
        proc = start(server, port, log)
        try:
            check_answers(server, proc, port, timeout=120)
            wrk(port, SINGLE, 16, args.warmup)
            result = {}
            result["rss_warm"], children = settled_rss(proc.pid)
            for c in CONNECTIONS:
                result[f"c{c}"], peak = peak_rss_during(
                    proc.pid, lambda: wrk(port, SINGLE, c, args.seconds, pid=proc.pid))
                result["rss_peak"] = max(result.get("rss_peak", 0), peak)
                say(f"{server.name}: {c} connections: {fmt_wrk(result[f'c{c}'])}")
            result["rss_single"], children = settled_rss(proc.pid)
            if server.batch:
                env = {**os.environ, "BATCH_ROWS": str(args.batch_rows)}
                result["batch"] = wrk(port, BATCH, 16, args.seconds, env, pid=proc.pid)
                say(f"{server.name}: {args.batch_rows}-row batches: {fmt_wrk(result['batch'])}")
                result["rss_batch"], children = settled_rss(proc.pid)
            result["children"] = children
            if proc.poll() is not None:
                raise RuntimeError(f"{server.name} exited ({proc.returncode}) during the load")
            return result
        finally:
            cold_start.stop(proc)


def measure_cold(servers):
    """Cold starts of every server, taken in rounds (one start of each server per
    round): on this shared host a median of 20 starts moves by 1-2 ms from one minute
    to the next, and in rounds that drift weighs on every server alike. Returns each
    server's median, in ms."""
    for server in servers:
        say(f"{server.name}: cold start, {server.cold_runs} runs")
    times = {server.name: [] for server in servers}
    for round_ in range(max(server.cold_runs for server in servers)):
        for server in servers:
            if round_ < server.cold_runs:
                times[server.name] += cold_start.measure(
                    server.command, 1, server.cold_timeout, server.cwd,
                    report=lambda _: None)
    return {name: statistics.median(runs) for name, runs in times.items()}


# ---- formatting ----

def say(message):
    print(f"compare: {message}", file=sys.stderr, flush=True)


def fmt_wrk(r):
    errors = f", {r['errors']} errors" if r["errors"] else ""
    cpu = f", server CPU {r['cpu_us']:.1f} us/request" if "cpu_us" in r else ""
    return (f"{r['rps']:,.0f} req/s, p50 {fmt_us(r['p50'])}, p99 {fmt_us(r['p99'])}"
            f"{cpu}{errors}")


def fmt_us(us):
    if us >= 1e6:
        return f"{us / 1e6:.2f} s"
    return f"{us / 1e3:.2f} ms" if us >= 1e3 else f"{us:.0f} us"


def fmt_mb(b):
    return f"{b / MB:.1f} MB"


def share(f, c):
    return f"{100 * f / c:.0f}%"


def times(x):
    return f"{x:.2f}x" if x < 10 else f"{x:,.0f}x"


def met(ok):
    return "yes" if ok else "**no**"


def table(results, cold, image, args):
    """Rows: measure | function | ceiling | tutorial | function / ceiling |
    function vs tutorial | target | met."""
    fn, ce, tu = (results.get(n) for n in ("function", "ceiling", "tutorial"))
    rows = []
    notes = []

    def cell(result, key, field, fmt):
        if result is None:
            return "skipped"
        r = result[key]
        return fmt(r[field]) + ("*" if r["errors"] else "")

    for c in CONNECTIONS:
        key = f"c{c}"
        f, e = fn[key]["rps"], ce[key]["rps"]
        t = tu[key]["rps"] if tu else None
        target, ok = "", ""
        if c == 16:
            target = (f"≥ {TARGET_CEILING_SHARE:.0%} of ceiling; "
                      f"≥ {TARGET_TUTORIAL_X}x tutorial")
            ok = met(f >= TARGET_CEILING_SHARE * e)
            ok += "; " + (met(f >= TARGET_TUTORIAL_X * t) if t else "skipped")
        rows.append([f"requests/s, {c} connection{'s' * (c > 1)}",
                     cell(fn, key, "rps", "{:,.0f}".format),
                     cell(ce, key, "rps", "{:,.0f}".format),
                     cell(tu, key, "rps", "{:,.0f}".format),
                     share(f, e), times(f / t) if t else "", target, ok])
    for pct in ("p50", "p99"):
        for c in CONNECTIONS:
            key = f"c{c}"
            f, e = fn[key][pct], ce[key][pct]
            t = tu[key][pct] if tu else None
            target, ok = "", ""
            if pct == "p99" and c == 16:
                target, ok = f"≤ {TARGET_P99_X}x ceiling", met(f <= TARGET_P99_X * e)
            rows.append([f"latency {pct}, {c} connection{'s' * (c > 1)}",
                         cell(fn, key, pct, fmt_us), cell(ce, key, pct, fmt_us),
                         cell(tu, key, pct, fmt_us), times(f / e) if e else "",
                         times(t / f) if t else "", target, ok])
    f, e = fn["c16"].get("cpu_us"), ce["c16"].get("cpu_us")
    t = tu["c16"].get("cpu_us") if tu else None
    if f and e:
        rows.append(["server CPU per request, 16 connections", f"{f:.1f} us", f"{e:.1f} us",
                     f"{t:,.0f} us" if t else "skipped", times(f / e),
                     times(t / f) if t else "", "", ""])
    f, e = fn["batch"]["rps"] * args.batch_rows, ce["batch"]["rps"] * args.batch_rows
    rows.append([f"rows/s, {args.batch_rows}-row batches, 16 connections",
                 f"{f:,.0f}" + ("*" if fn["batch"]["errors"] else ""),
                 f"{e:,.0f}" + ("*" if ce["batch"]["errors"] else ""),
                 "n/a (one row per request)" if tu else "skipped", share(f, e), "",
                 f"≥ {TARGET_BATCH_ROWS_S:,.0f}", met(f >= TARGET_BATCH_ROWS_S)])
    f, e = fn["batch"].get("cpu_us"), ce["batch"].get("cpu_us")
    if f and e:
        rows.append(["server CPU per row, batches", f"{1e3 * f / args.batch_rows:.0f} ns",
                     f"{1e3 * e / args.batch_rows:.0f} ns", "", times(f / e), "", "", ""])
    f, e, t = cold.get("function"), cold.get("ceiling"), cold.get("tutorial")
    rows.append(["cold start, exec -> first 200 (median)",
                 f"{f:.2f} ms", f"{e:.2f} ms", f"{t:.0f} ms" if t else "skipped",
                 times(f / e), times(t / f) if t else "",
                 f"≤ {TARGET_COLD_MS:g} ms", met(f <= TARGET_COLD_MS)])
    # The load: the single-row runs, then the batches. Issue 9's target reads "after
    # load": held against both, as batches grow the buffers a server keeps.
    # The peak, while 256 connections are open, is shown without a target: it is what a
    # memory limit has to hold, and hyper's per-connection buffers set it.
    for key, label in (("rss_warm", "after warm-up"),
                       ("rss_peak", "at the peak of the single-row runs (256 connections open)"),
                       ("rss_single", "after the single-row runs"),
                       ("rss_batch", "after the batch runs too")):
        f, e = fn[key], ce[key]
        t = tu.get(key) if tu else None
        tutorial = fmt_mb(t) if t else ("n/a" if tu else "skipped")
        target, ok = ("", "") if key in ("rss_warm", "rss_peak") else (
            f"≤ {fmt_mb(TARGET_RSS)}", met(f <= TARGET_RSS))
        rows.append([f"resident memory {label}", fmt_mb(f), fmt_mb(e), tutorial,
                     times(f / e), times(t / f) if t else "", target, ok])
    if image:
        size = (f"{fmt_mb(image['uncompressed_bytes'])} unpacked, "
                f"{fmt_mb(image['compressed_bytes'])} compressed")
        when = image.get("measured", "")
        rows.append([f"container image{f' ({when})' if when else ''}", size, "", "",
                     "", "", "< 15 MB compressed (tests/container)",
                     met(image["compressed_bytes"] < 15 * MB)])
    else:
        rows.append(["container image", "run tests/container/run.sh", "", "", "", "", "", ""])

    head = ["measure", "function", "ceiling", "tutorial", "function / ceiling",
            "function vs tutorial (times better)", "target (issue 9)", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    for name, result in results.items():
        for key, r in result.items():
            if isinstance(r, dict) and r["errors"]:
                notes.append(f"\\* {name}, {key}: {r['errors']} socket errors or non-2xx answers")
        if result.get("children"):
            notes.append(f"{name}: RSS includes {result['children']} child processes")
    return "\n".join(lines + ([""] + notes if notes else []))


def load_average():
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def read_image_size(path):
    if not path.is_file():
        return None
    fields = dict(line.strip().split("=", 1) for line in path.read_text().splitlines()
                  if "=" in line and not line.startswith("#"))
    return {"uncompressed_bytes": int(fields["uncompressed_bytes"]),
            "compressed_bytes": int(fields["compressed_bytes"]),
            "measured": fields.get("measured", "")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--function", required=True, help="the function's binary (profile dist)")
    parser.add_argument("--ceiling", required=True, help="bench/ceiling's binary (profile dist)")
    parser.add_argument("--tutorial-venv", help="venv with bench/tutorial/requirements.txt")
    parser.add_argument("--tutorial-dir", help="working directory holding model.joblib")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--cold-runs", type=int, default=20)
    parser.add_argument("--tutorial-cold-runs", type=int, default=5)
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--image-size", type=Path, help="tests/container/run.sh's size file")
    parser.add_argument("--out", type=Path, required=True, help="where to write the table")
    args = parser.parse_args()
    # SIGTERM ends the run through the `finally` blocks, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    single = ["--host", "127.0.0.1", "--port", "{port}"]
    servers = [
        Server("function", [args.function, *single], batch=True, cold_runs=args.cold_runs),
        Server("ceiling", [args.ceiling, *single], batch=True, cold_runs=args.cold_runs),
    ]
    if args.tutorial_venv:
        # As the tutorial serves it: one uvicorn process; model.joblib is read from the
        # working directory, app.py found through --app-dir.
        servers.append(Server(
            "tutorial",
            [str(Path(args.tutorial_venv) / "bin" / "uvicorn"), "app:app",
             "--app-dir", str(ROOT / "bench" / "tutorial"),
             "--host", "127.0.0.1", "--port", "{port}", "--workers", "1"],
            cwd=args.tutorial_dir, cold_runs=args.tutorial_cold_runs, cold_timeout=60.0))

    logs = args.out.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = load_average()
    results = {}
    try:
        for server in servers:
            results[server.name] = measure_load(server, args, logs)
        cold = measure_cold(servers)
    except RuntimeError as error:
        say(f"error: {error} (server logs in {logs})")
        return 1
    except KeyboardInterrupt:  # the servers are stopped by now (`finally`)
        say("interrupted")
        return 130
    image = read_image_size(args.image_size) if args.image_size else None

    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True,
                                 text=True).stdout.split(" [")[0]
    header = (
        f"bench/compare.sh at {commit}, {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"load average {load_before} before, {load_average()} after; "
        f"{wrk_version} (-t1, -t2 at 256 connections), {args.seconds} s per run after a "
        f"{args.warmup} s warm-up; cold start: median of {args.cold_runs} runs"
        + (f" ({args.tutorial_cold_runs} for the tutorial)" if "tutorial" in cold else "")
        + ". MB = 10^6 bytes."
    )
    text = header + "\n\n" + table(results, cold, image, args) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    say(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
