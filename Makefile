# One entry point for building, testing and checking the product. See README.md.
.PHONY: build test lint fmt clean

CARGO ?= cargo

build:
	$(CARGO) build --workspace

# The README's test command: every unit, property, contract and end-to-end test. The
# end-to-end tests run the functions' real binaries in the local landing zone (moto from
# .venv, installed on first use), so the binaries are built first.
test:
	$(CARGO) build --workspace --bins --examples
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc
	$(MAKE) least-privilege

# Rust style and warnings, then the CloudFormation templates (cfn-lint and a deployment of
# each StackSet template into moto; installs requirements-dev.txt into .venv on first use).
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	bash tools/lint-templates.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean

# Deployment (docs/deployment.md). `package`: the four functions as release zips in dist/
# (arm64 when the aarch64 target is installed, else x86_64; cargo-lambda and zig from .venv).
# `deploy`: sam build, then sam deploy - guided the first time (no parameter_overrides in
# $(SAMCONFIG) yet), which saves the answers there, the secret key excepted.
# `least-privilege`: every AWS call of each function is granted to its role and nothing more;
# the StackSet roles grant what Lacework needs (tools/least_privilege.py, with its unit tests).
.PHONY: package deploy least-privilege

SAMCONFIG ?= samconfig.toml
# cargo-lambda (for sam build) is in .venv; zig's caches go to .cache/, not ~.
SAM = PATH="$(CURDIR)/.venv/bin:$$PATH" XDG_CACHE_HOME="$(CURDIR)/.cache" .venv/bin/sam

package:
	bash tools/package.sh

deploy:
	tools/venv.sh
	$(SAM) build --config-file $(SAMCONFIG)
	if grep -q '^parameter_overrides' $(SAMCONFIG); then \
		$(SAM) deploy --config-file $(SAMCONFIG); \
	else \
		$(SAM) deploy --guided --config-file $(SAMCONFIG); \
	fi

least-privilege:
	tools/venv.sh
	.venv/bin/python -m unittest tools/least_privilege_test.py
	.venv/bin/python tools/least_privilege.py

# Time and memory, measured and printed, never asserted: the core decisions at the scale of a
# large organization (crates/domain/benches/decisions.rs); onboarding 100, 1,000 and 5,000
# accounts - AWS and Lacework calls, invocations, memory and time to finish at Lacework's rate
# limit (crates/bench, written to target/bench/onboarding.json), and again with a budget learned
# from rate-limit headers (onboarding-learned.json); setup's own run at the same sizes
# (target/bench/setup.json); then every function's duration
# and peak memory through the whole demo, as the release builds that ship.
.PHONY: bench
bench:
	$(CARGO) bench -p lwct-domain --bench decisions
	$(CARGO) bench -p lwct-bench --bench onboarding
	LWCT_BENCH_RATE_LIMIT_HEADERS=1 $(CARGO) bench -p lwct-bench --bench onboarding
	$(CARGO) bench -p lwct-bench --bench setup
	$(CARGO) build --release --workspace --bins
	python3 tools/function_memory.py ./target/release/landing-zone demo

# The local landing zone (crates/landing-zone/README.md). Debug builds: much faster to build
# here than release, and fast enough for moto.
.PHONY: demo landing-zone-up landing-zone-state landing-zone-down

# Fresh landing zone, the setup flow end to end, checks and a summary; exits non-zero on failure.
demo:
	$(CARGO) build --workspace --bins
	./target/debug/landing-zone demo

# A landing zone left running in the background (landing-zone invoke/state/down use it).
landing-zone-up:
	$(CARGO) build --workspace --bins
	./target/debug/landing-zone up

landing-zone-state:
	./target/debug/landing-zone state

landing-zone-down:
	./target/debug/landing-zone down
