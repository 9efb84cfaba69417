# One entry point for building, testing and checking the product. See README.md.
.PHONY: build test lint fmt clean

CARGO ?= cargo

build:
	$(CARGO) build --workspace

# The README's test command: every unit, property, contract and end-to-end test.
test:
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc

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
