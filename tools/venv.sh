#!/usr/bin/env bash
# Makes the project venv .venv ready: creates it if absent and installs requirements-dev.txt
# into it only when that file (or the venv's Python) changed since the last install (a stamp
# file records both). `tools/venv.sh VENV REQUIREMENTS` does the same for another venv:
# tools/lint-templates.sh prepares .venv-scan from requirements-scan.txt that way (checkov,
# whose exact boto3 pin conflicts with aws-sam-cli's). Safe to run from several tools at once (one installer at a time, under a
# lock). Prints nothing when all is well; otherwise prints pip's output and exits non-zero.
# Used by tools/lint-templates.sh and by the local landing zone (crates/landing-zone).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${1:-.venv}"
requirements="${2:-requirements-dev.txt}"
stamp="$venv/.$(basename "$requirements" .txt).stamp"
install_log="$venv/.$(basename "$requirements" .txt).log"

mkdir -p "$venv"
exec 9>"$venv/.lock"
if command -v flock >/dev/null; then
    flock 9
fi

if ! "$venv/bin/python" -c '' 2>/dev/null; then
    if ! python3 -m venv "$venv"; then
        echo "venv: python3 -m venv $venv failed (on Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
fi
wanted="$(sha256sum "$requirements" | cut -d' ' -f1) $("$venv/bin/python" -V 2>&1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --quiet \
        -r "$requirements" >"$install_log" 2>&1; then
        echo "venv: installing $requirements into $venv failed:" >&2
        cat "$install_log" >&2
        exit 1
    fi
    echo "$wanted" >"$stamp"
fi
