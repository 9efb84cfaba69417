"""Runs a landing-zone command (the demo) and reports, per function, what Lambda would report
of its invocations in it: how many, their duration and their peak memory ("Max Memory Used").

The landing zone ends every invocation in a function's log (.cache/landing-zone/logs/<name>.log)
with Lambda's REPORT line; only the lines this run appended are read.

    python3 tools/function_memory.py ./target/release/landing-zone demo
"""

import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / ".cache" / "landing-zone" / "logs"
FUNCTIONS = ["setup", "account-lifecycle", "auth-refresh", "sns-custom-resource"]
REPORT = re.compile(r"^REPORT RequestId: \S+\tDuration: (\d+) ms(?:\tMax Memory Used: (\d+) MB)?$")


def size(path):
    return path.stat().st_size if path.exists() else 0


def reports(path, offset):
    if not path.exists():
        return []
    with path.open("rb") as log:
        log.seek(offset)
        text = log.read().decode("utf-8", "replace")
    found = []
    for line in text.splitlines():
        match = REPORT.match(line)
        if match:
            memory = int(match.group(2)) if match.group(2) else None
            found.append((int(match.group(1)), memory))
    return found


def main(command):
    if not command:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    offsets = {name: size(LOGS / f"{name}.log") for name in FUNCTIONS}
    run = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    if run.returncode != 0:
        print(f"{' '.join(command)} failed ({run.returncode})", file=sys.stderr)
        return run.returncode
    print(f"{'function':<22} {'invocations':>11} {'median ms':>10} {'max ms':>8} {'max memory MB':>14}")
    for name in FUNCTIONS:
        found = reports(LOGS / f"{name}.log", offsets[name])
        if not found:
            print(f"{name:<22} {0:>11}")
            continue
        durations = [duration for duration, _ in found]
        memories = [memory for _, memory in found if memory is not None]
        peak = max(memories) if memories else "-"
        print(
            f"{name:<22} {len(found):>11} {statistics.median(durations):>10.0f} "
            f"{max(durations):>8} {peak:>14}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
