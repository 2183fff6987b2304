"""Runs the README's shell examples as a newcomer pastes them, and checks their answers.

Every ```sh and ```python block of README.md runs in order, one bash (or one Python, the
interop venv's: README_PYTHON) per block, from a scratch
directory (target/readme/work) that sees the repository's `tests/`, `models/` and
`target/` as the README's commands expect. What a block may not run here is left out
line by line: `cargo test` (CI runs the tests on their own), `kubectl` (no cluster), the
other suites' scripts. Step 1's `cargo run --release -p function`, which would run in the
foreground until Ctrl-C, is this script's own server on a free port; the later examples
talk to it. Port 8080 in the README is that server's port here, and 8081 (the port of the
examples that start a server of their own) another free one.

Under a command, comment lines with no blank line between are its expected output: each
must match a whole line of what the command printed, `...` standing for any text (across
lines too). Comment lines after a blank line, or before a command, describe it. In a
Python block, `print(...)  # text` expects `text` as a line of the block's output.

Also checked: every command exits 0; nothing but the tests is built in the debug profile
(`cargo run`/`cargo build` without `--release` would be a second full build); no example
starts a server on step 1's port 8080; and a block stops every process it starts
(nothing of its process group is left afterwards).

Usage: python3 tests/readme/check.py (tests/readme/run.sh builds the binaries and the
venv first). Environment: CARGO_TARGET_DIR, as cargo reads it; README_PYTHON, the
interpreter of the Python blocks (one with the README's packages: skl2onnx, tritonclient).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
if not TARGET.is_absolute():
    TARGET = ROOT / TARGET
WORK = ROOT / "target" / "readme" / "work"
# The README's ports: step 1's server, and the one examples with their own server use.
SHARED_PORT, OWN_PORT = "8080", "8081"
# Lines left out here, and why.
SKIPPED = [
    (re.compile(r"^cargo test\b"), "the tests run on their own in CI"),
    (re.compile(r"^kubectl\b"), "needs a cluster"),
    # The gRPC example's Python twin (tritonclient.grpc) runs; tests/interop checks more.
    (re.compile(r"^grpcurl\b"), "needs grpcurl, not in CI"),
    (re.compile(r"^(FUZZ_SECONDS=\S+ )?(fuzz|tests/\w+)/run\.sh\b"), "a suite of its own"),
]
STEP_ONE = re.compile(r"^cargo run --release -p function$")
# Settings the function reads from the environment: none may leak in from the caller's.
FUNCTION_ENV = re.compile(
    r"^(PORT|MODEL_\w+|K_(SERVICE|CONFIGURATION|REVISION)|LOG_\w+|RUST_LOG|METRICS|MAX_\w+"
    r"|\w+_TIMEOUT_SECONDS|WORKER_THREADS|PAYLOAD_LOG\w*|K_SINK|K_CE_OVERRIDES|POD_NAMESPACE)$"
)
MARK = "__readme_step_done__"
BLOCK_TIMEOUT = 600  # seconds; a `cargo run` checks the build before it runs


class Step:
    """One command of a block (continuation lines joined) and its expected lines."""

    def __init__(self, line_no, command):
        self.line_no = line_no
        self.command = command
        self.expected = []


LANGUAGES = ("sh", "python")


def blocks(text):
    """(line number, language, lines) of every ```sh and ```python block."""
    found, inside, start, language = [], None, 0, None
    for number, line in enumerate(text.splitlines(), 1):
        if inside is None and line.strip().removeprefix("```") in LANGUAGES \
                and line.strip().startswith("```"):
            inside, start, language = [], number + 1, line.strip()[3:]
        elif inside is not None and line.strip() == "```":
            found.append((start, language, inside))
            inside = None
        elif inside is not None:
            inside.append(line)
    return found


def steps(start, lines):
    """The commands of a block, each with the comment lines right under it."""
    result, last, pending = [], None, ""
    for offset, line in enumerate(lines):
        stripped = line.strip()
        if pending:
            pending += " " + stripped
            if not stripped.endswith("\\"):
                result[-1].command, pending = pending, ""
            continue
        if not stripped:
            last = None
        elif stripped.startswith("#"):
            if last is not None:
                last.expected.append(stripped[1:].strip())
        else:
            last = Step(start + offset, stripped)
            result.append(last)
            if stripped.endswith("\\"):
                pending = stripped
    for step in result:
        step.command = re.sub(r"\\ +", "", step.command)
    return result


def pattern(expected):
    """A regex for one expected line: a whole line of output, `...` for any text (the
    spaces around it included, so that it may stand for line breaks too)."""
    parts = expected.split("...")
    parts = [part.rstrip() for part in parts[:-1]] + parts[-1:]
    parts = [re.escape(part if at == 0 else part.lstrip()) for at, part in enumerate(parts)]
    return re.compile("^" + r"[\s\S]*?".join(parts) + "$", re.M)


def free_port():
    with socket.socket() as s:
        s.bind(("", 0))
        return str(s.getsockname()[1])


def clean_env():
    env = {k: v for k, v in os.environ.items() if not FUNCTION_ENV.match(k)}
    env["CARGO_TARGET_DIR"] = str(TARGET)
    return env


def wait_ready(port, process, log):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"readme: the server exited before it was ready:\n{log.read_text()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("readme: the server was not ready within 60 s")


def group_members(pgid):
    """The live processes of process group `pgid` (zombies, which only wait for their
    parent to reap them, do not count)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def stop_group(process):
    """Kills what is left of a block's process group."""
    for pid in group_members(process.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def group_gone(process, seconds):
    """Waits up to `seconds` for a block's process group to end."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not group_members(process.pid):
            return True
        time.sleep(0.05)
    return False


def static_problems(block_list):
    """What is wrong with the commands themselves, before anything runs."""
    problems = []
    for start, language, lines in block_list:
        if language != "sh":
            continue
        for step in steps(start, lines):
            words = step.command.split()
            if words[:2] in (["cargo", "run"], ["cargo", "build"]) and "--release" not in words:
                problems.append(f"README.md:{step.line_no}: a debug build: add --release")
            starts_server = step.command.endswith("&") and (
                "target/release/function" in step.command or "-p function" in step.command
            )
            if starts_server and OWN_PORT not in re.findall(r"--port (\d+)", step.command):
                problems.append(
                    f"README.md:{step.line_no}: a server started in the background must use "
                    f"--port {OWN_PORT}: 8080 is step 1's"
                )
    return problems


def run_python_block(start, lines, ports):
    """Runs one Python block with README_PYTHON; returns the problems found."""
    python = os.environ.get("README_PYTHON")
    if not python:
        return [f"README.md:{start}: a Python block, and README_PYTHON is not set"]
    text = "\n".join(lines)
    for readme_port, port in ports.items():
        text = re.sub(rf"\b{readme_port}\b", port, text)
    script = WORK / f"block-{start}.py"
    script.write_text(text + "\n")
    try:
        done = subprocess.run(
            [python, script.name], cwd=WORK, env=clean_env(), stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=BLOCK_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return [f"README.md:{start}: the block did not finish in {BLOCK_TIMEOUT} s"]
    if done.returncode != 0:
        return [f"README.md:{start}: exit {done.returncode}\n{done.stdout}{done.stderr}"]
    problems = []
    printed = done.stdout.splitlines()
    for offset, line in enumerate(lines):
        found = re.search(r"\bprint\(.*\)\s+#\s*(.+)$", line)
        if found and found[1].strip() not in (p.strip() for p in printed):
            problems.append(
                f"README.md:{start + offset}: expected {found[1].strip()!r}, printed:\n"
                f"{done.stdout or '(nothing)'}"
            )
    print(f"  {'ok  ' if not problems else 'FAIL'} README.md:{start}: a Python block")
    return problems


def run_block(start, lines, ports):
    """Runs one block; returns the problems found (an empty list when it passed)."""
    runnable = []
    for step in steps(start, lines):
        reason = next((why for regex, why in SKIPPED if regex.search(step.command)), None)
        if reason or STEP_ONE.match(step.command):
            reason = reason or "step 1: this script serves it"
            print(f"  skip README.md:{step.line_no}: {step.command[:60]} ({reason})")
            continue
        runnable.append(step)
    if not runnable:
        return []
    script = ["set -o pipefail"]
    for step in runnable:
        script += [step.command, f'echo "{MARK} $?"']
    text = "\n".join(script)
    for readme_port, port in ports.items():
        text = re.sub(rf"\b{readme_port}\b", port, text)
    # Output to files, not pipes: a server the block leaves running would hold a pipe
    # open, and the block would seem never to end.
    out_path, err_path = WORK / f"block-{start}.out", WORK / f"block-{start}.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        process = subprocess.Popen(
            ["bash", "-c", text], cwd=WORK, env=clean_env(), stdin=subprocess.DEVNULL,
            stdout=out, stderr=err, text=True, start_new_session=True,
        )
        try:
            process.wait(timeout=BLOCK_TIMEOUT)
        except subprocess.TimeoutExpired:
            stop_group(process)
            process.wait()
            return [f"README.md:{start}: the block did not finish in {BLOCK_TIMEOUT} s\n{err_path.read_text()}"]
    stdout, stderr = out_path.read_text(), err_path.read_text()
    problems = []
    if not group_gone(process, 5):
        stop_group(process)
        problems.append(f"README.md:{start}: the block leaves a process running (stop what it starts)")
    outputs = stdout.replace("\r", "").split(MARK)
    for index, step in enumerate(runnable):
        if index + 1 >= len(outputs):
            problems.append(f"README.md:{step.line_no}: never reached: {step.command}\n{stderr}")
            break
        output = outputs[index]
        status = outputs[index + 1].split("\n", 1)[0].strip()
        rest = outputs[index + 1].split("\n", 1)
        outputs[index + 1] = rest[1] if len(rest) > 1 else ""
        found = len(problems)
        if status != "0":
            problems.append(f"README.md:{step.line_no}: exit {status}: {step.command}\n{output}{stderr}")
        for expected in step.expected if status == "0" else []:
            for readme_port, port in ports.items():
                expected = re.sub(rf"\b{readme_port}\b", port, expected)
            if not pattern(expected).search(output):
                problems.append(
                    f"README.md:{step.line_no}: {step.command}\n  expected: {expected}\n"
                    f"  printed:  {output.strip() or '(nothing)'}"
                )
        verdict = "ok  " if len(problems) == found else "FAIL"
        print(f"  {verdict} README.md:{step.line_no}: {step.command[:70]}")
    return problems


def main():
    block_list = blocks(README.read_text())
    problems = static_problems(block_list)
    if problems:
        sys.exit("readme:\n" + "\n".join(problems))
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    for name in ["tests", "models"]:
        (WORK / name).symlink_to(ROOT / name)
    (WORK / "target").symlink_to(TARGET)
    ports = {SHARED_PORT: free_port()}
    while (own := free_port()) == ports[SHARED_PORT]:
        pass
    ports[OWN_PORT] = own
    log = WORK / "step-1-server.log"
    with open(log, "w") as sink:
        server = subprocess.Popen(
            [str(TARGET / "release" / "function"), "--port", ports[SHARED_PORT]],
            env=clean_env(), stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
        )
    try:
        wait_ready(ports[SHARED_PORT], server, log)
        for start, language, lines in block_list:
            print(f"README.md:{start}")
            run = run_block if language == "sh" else run_python_block
            problems += run(start, lines, ports)
    finally:
        server.send_signal(signal.SIGTERM)
        drained = server.wait(timeout=30)
    if drained != 0:
        problems.append(f"step 1's server exited {drained} on SIGTERM:\n{log.read_text()}")
    if problems:
        sys.exit("readme: FAILED\n" + "\n\n".join(problems))
    shutil.rmtree(WORK, ignore_errors=True)
    print(f"readme: every example of {len(block_list)} blocks answered as the README says")


if __name__ == "__main__":
    main()
