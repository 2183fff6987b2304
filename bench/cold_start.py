#!/usr/bin/env python3
"""Cold start of a server: time from exec to the first 200 on POST /predict.

Polls from this process (a curl loop's own process start costs more than the function's
whole start-up). Prints each run and the median. bench/compare.py imports `measure`.

    python3 bench/cold_start.py target/release/function [--runs 20] [-- extra args]
    python3 bench/cold_start.py --command 'uvicorn app:app --port {port}' --cwd DIR --runs 5

A binary is started as `BINARY --host 127.0.0.1 --port N [extra args]` (the function and
bench/ceiling take these flags); `--command` gives any other command line, with `{port}`
where the port goes. The server gets this process's environment less RUST_BACKTRACE
(with it set, tract's own tree op captures a backtrace per leaf): its log settings are
its defaults, as served, and its output goes to /dev/null.
"""
import argparse
import os
import shlex
import socket
import statistics
import subprocess
import sys
import time

BODY = b'{"input":[5.1,3.5,1.4,0.2]}'
REQUEST = (
    b"POST /predict HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_200(port: int, deadline: float) -> bool:
    while time.perf_counter() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(REQUEST)
                reply = s.recv(64)
                if reply.startswith(b"HTTP/1.1 200"):
                    return True
        except OSError:
            time.sleep(0.0002)
    return False


def server_env() -> dict:
    """The environment a server is started with: ours, less RUST_BACKTRACE."""
    return {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}


def stop(proc):
    """SIGTERM, then SIGKILL if the process is still there after 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(command, runs, timeout=10.0, cwd=None, report=print):
    """Starts `command` (a list of arguments, `{port}` replaced by a free port) `runs`
    times, each until its first 200; returns the times in ms. Raises RuntimeError when a
    run sees no 200 within `timeout` seconds."""
    times = []
    env = server_env()
    for _ in range(runs):
        port = free_port()
        argv = [arg.replace("{port}", str(port)) for arg in command]
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            ok = first_200(port, start + timeout)
            elapsed = (time.perf_counter() - start) * 1e3
        finally:
            stop(proc)
        if not ok:
            raise RuntimeError(f"{shlex.join(argv)}: no 200 within {timeout:g} s")
        times.append(elapsed)
        report(f"{elapsed:.2f} ms")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("binary", nargs="?", help="started with --host 127.0.0.1 --port N")
    parser.add_argument("--command", help="command line instead of BINARY, with {port}")
    parser.add_argument("--cwd", help="working directory of the server")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per run")
    parser.add_argument("extra", nargs="*", help="extra arguments for the binary")
    args = parser.parse_args()
    if (args.binary is None) == (args.command is None):
        parser.error("give either BINARY or --command")
    if args.command is not None:
        command = shlex.split(args.command) + args.extra
    else:
        command = [args.binary, "--host", "127.0.0.1", "--port", "{port}", *args.extra]
    try:
        times = measure(command, args.runs, args.timeout, args.cwd)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"median exec -> first 200: {statistics.median(times):.2f} ms over {len(times)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
