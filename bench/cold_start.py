#!/usr/bin/env python3
"""Cold start of the function: time from exec to the first 200 on POST /predict.

Polls from this process (a curl loop's own process start costs more than the function's
whole start-up). Prints each run and the median.

    python3 bench/cold_start.py target/release/function [--runs 20] [-- extra args]
"""
import argparse
import os
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("extra", nargs="*", help="extra arguments for the binary")
    args = parser.parse_args()
    times = []
    for _ in range(args.runs):
        port = free_port()
        start = time.perf_counter()
        proc = subprocess.Popen(
            [args.binary, "--host", "127.0.0.1", "--port", str(port), *args.extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": "warn"},
        )
        ok = first_200(port, start + 10)
        elapsed = (time.perf_counter() - start) * 1e3
        proc.terminate()
        proc.wait(timeout=10)
        if not ok:
            print("no 200 within 10 s", file=sys.stderr)
            return 1
        times.append(elapsed)
        print(f"{elapsed:.2f} ms")
    print(f"median exec -> first 200: {statistics.median(times):.2f} ms over {len(times)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
