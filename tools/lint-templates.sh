#!/usr/bin/env bash
# Lints the CloudFormation templates, offline:
#   1. cfn-lint on stacksets/*.yaml and template.yaml (when present); any error or warning fails;
#   2. stacksets/tests/check_templates.py: the project's own template rules, parameter
#      patterns, and a deployment of each StackSet template into an in-process moto.
# Uses the project venv .venv, created if absent; installs requirements-dev.txt into it only
# when that file (or the venv's Python) changed since the last install. Prints nothing when all
# is well; otherwise names the file that failed and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
requirements=requirements-dev.txt
stamp="$venv/.requirements-dev.stamp"
install_log="$venv/.requirements-dev.log"

# Several tools share the venv: one installer at a time.
mkdir -p "$venv"
exec 9>"$venv/.lock"
if command -v flock >/dev/null; then
    flock 9
fi

if ! "$venv/bin/python" -c '' 2>/dev/null; then
    python3 -m venv "$venv"
fi
wanted="$(sha256sum "$requirements" | cut -d' ' -f1) $("$venv/bin/python" -V 2>&1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --quiet \
        -r "$requirements" >"$install_log" 2>&1; then
        echo "lint-templates: installing $requirements into $venv failed:" >&2
        cat "$install_log" >&2
        exit 1
    fi
    echo "$wanted" >"$stamp"
fi
exec 9>&-

templates=(stacksets/*.yaml)
if [ -f template.yaml ]; then
    templates+=(template.yaml)
fi

status=0
# One run for speed; on failure, one run per template to say which failed.
if ! "$venv/bin/cfn-lint" --non-zero-exit-code warning -- "${templates[@]}" >/dev/null 2>&1; then
    for template in "${templates[@]}"; do
        if ! output="$("$venv/bin/cfn-lint" --non-zero-exit-code warning -- "$template" 2>&1)"; then
            echo "lint-templates: cfn-lint failed on $template:" >&2
            echo "$output" >&2
            status=1
        fi
    done
    if [ "$status" -eq 0 ]; then  # only the templates together fail
        echo "lint-templates: cfn-lint failed on ${templates[*]}:" >&2
        "$venv/bin/cfn-lint" --non-zero-exit-code warning -- "${templates[@]}" >&2 || true
        status=1
    fi
fi

if ! output="$("$venv/bin/python" stacksets/tests/check_templates.py 2>&1)"; then
    echo "lint-templates: stacksets/tests/check_templates.py failed:" >&2
    echo "$output" >&2
    status=1
fi

exit "$status"
