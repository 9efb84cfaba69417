#!/usr/bin/env bash
# Lints the CloudFormation templates, offline:
#   1. cfn-lint on stacksets/*.yaml and template.yaml (when present); any error or warning fails;
#   2. `sam validate --lint` on template.yaml (when present), with no network and no
#      credentials: the SAM CLI's weekly version check is pre-empted (its state lives in
#      .cache/sam, not ~), its telemetry is off, and it gets no AWS config or credentials;
#   3. stacksets/tests/check_templates.py: the project's own template rules, parameter
#      patterns, and a deployment of each StackSet template into an in-process moto;
#   4. tools/check_sam_template.py (with template.yaml): the same kind of rules for the SAM
#      template - parameter patterns, the secret key confined to the secret, environment
#      variables as the functions read them, names from the prefix, queue timeouts, queues
#      and topics encrypted, the registration topic and its key open to the organization
#      only (with its own unit tests, tools/check_sam_template_test.py, on broken templates).
#   5. tools/deploy_sam_template.py: template.yaml translated by samtranslator and deployed into
#      an in-process moto; functions, roles, timeouts, variables and wiring compared;
#   6. tools/check_event_patterns.py (with template.yaml): each EventBridge rule's pattern, in
#      moto's EventBridge, against every fixture of events/lifecycle (unwrapped from SQS/SNS):
#      each must reach exactly the rule its table says, and no fixture may be missing from it
#      (with its own unit tests, tools/check_event_patterns_test.py);
#   7. tools/scan_templates.py: security scanners on every template - checkov (from .venv-scan),
#      cfn-lint's informational rules (--include-checks I) and parliament on every IAM policy;
#      a finding fails unless it is suppressed where it is (checkov, cfn-lint) or allowed in the
#      script (parliament), each with its reason;
# Uses the project venv .venv, prepared by tools/venv.sh (created if absent; requirements-dev.txt
# installed only when it changed), and .venv-scan the same way from requirements-scan.txt
# (checkov, which cannot share .venv). Prints nothing when all is well; otherwise names the file
# that failed and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
if ! tools/venv.sh; then
    echo "lint-templates: the project venv could not be prepared (see above)" >&2
    exit 1
fi
if ! tools/venv.sh .venv-scan requirements-scan.txt; then
    echo "lint-templates: the scanner venv .venv-scan could not be prepared (see above)" >&2
    exit 1
fi

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

if [ -f template.yaml ]; then
    # The SAM CLI asks PyPI for a newer version once a week, going by the time in its
    # metadata.json: a last check far in the future means it never asks.
    mkdir -p .cache/sam
    if [ ! -f .cache/sam/metadata.json ]; then
        echo '{"lastVersionCheck": 4102444800.0, "telemetryEnabled": false}' >.cache/sam/metadata.json
    fi
    if ! output="$(__SAM_CLI_APP_DIR="$PWD/.cache/sam" SAM_CLI_TELEMETRY=0 \
        AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
        AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" \
        "$venv/bin/sam" validate --lint --template-file template.yaml 2>&1)"; then
        echo "lint-templates: sam validate --lint failed on template.yaml:" >&2
        echo "$output" >&2
        status=1
    fi
    if ! output="$("$venv/bin/python" tools/check_sam_template.py 2>&1)"; then
        echo "lint-templates: tools/check_sam_template.py failed:" >&2
        echo "$output" >&2
        status=1
    fi
    if ! output="$("$venv/bin/python" tools/deploy_sam_template.py 2>&1)"; then
        echo "lint-templates: tools/deploy_sam_template.py failed:" >&2
        echo "$output" >&2
        status=1
    fi
    if ! output="$("$venv/bin/python" -m unittest tools/check_sam_template_test.py 2>&1)"; then
        echo "lint-templates: tools/check_sam_template_test.py failed:" >&2
        echo "$output" >&2
        status=1
    fi
    if ! output="$("$venv/bin/python" tools/check_event_patterns.py 2>&1)"; then
        echo "lint-templates: tools/check_event_patterns.py failed:" >&2
        echo "$output" >&2
        status=1
    fi
    if ! output="$("$venv/bin/python" -m unittest tools/check_event_patterns_test.py 2>&1)"; then
        echo "lint-templates: tools/check_event_patterns_test.py failed:" >&2
        echo "$output" >&2
        status=1
    fi
fi

if ! output="$("$venv/bin/python" stacksets/tests/check_templates.py 2>&1)"; then
    echo "lint-templates: stacksets/tests/check_templates.py failed:" >&2
    echo "$output" >&2
    status=1
fi

if ! output="$("$venv/bin/python" tools/scan_templates.py 2>&1)"; then
    echo "lint-templates: tools/scan_templates.py failed:" >&2
    echo "$output" >&2
    status=1
fi

exit "$status"
