#!/usr/bin/env bash
# Builds the four Lambda functions (release profile) with cargo-lambda into
# dist/<function>-<architecture>.zip, each holding the `bootstrap` executable that
# provided.al2023 runs, and writes dist/manifest.txt (architecture, toolchain, sizes, SHA-256).
#
# Architecture: arm64 (what template.yaml deploys) when the aarch64-unknown-linux-gnu target is
# installed (`rustup target add aarch64-unknown-linux-gnu`), else x86_64. Adding a target
# downloads it from rustup's server, which CI cannot rely on, so CI packages x86_64; `sam build`
# (make deploy) builds arm64 on a machine that has the target.
#
# cargo-lambda and zig (its cross-linker) come from PyPI into .venv (requirements-dev.txt);
# zig's and cargo-zigbuild's caches go to .cache/ in the project (XDG_CACHE_HOME), not ~.
set -euo pipefail
cd "$(dirname "$0")/.."

functions=(setup account-lifecycle auth-refresh sns-custom-resource)

if ! tools/venv.sh; then
    echo "package: the project venv could not be prepared (see above)" >&2
    exit 1
fi
# cargo-lambda is .venv/bin/cargo-lambda; it finds zig as `python3 -m ziglang` of the venv.
export PATH="$PWD/.venv/bin:$PATH"
export XDG_CACHE_HOME="$PWD/.cache"
mkdir -p "$XDG_CACHE_HOME"

if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    architecture=arm64
    architecture_flag=--arm64
else
    architecture=x86_64
    architecture_flag=--x86-64
    echo "package: the aarch64-unknown-linux-gnu target is not installed: building x86_64" \
        "(template.yaml deploys arm64; see docs/deployment.md)" >&2
fi

packages=()
for function in "${functions[@]}"; do
    packages+=(--package "$function")
done

started=$(date +%s)
cargo lambda build --release "$architecture_flag" --output-format zip "${packages[@]}"
seconds=$(($(date +%s) - started))

mkdir -p dist
rm -f dist/*.zip dist/manifest.txt
{
    echo "architecture: $architecture"
    echo "toolchain: $(rustc --version)"
    echo "cargo-lambda: $(cargo lambda --version 2>/dev/null | head -n 1)"
    echo "source: $(git describe --always --dirty 2>/dev/null || echo unknown)"
    echo "build seconds: $seconds"
    echo "zips (bytes, sha256):"
} >dist/manifest.txt
for function in "${functions[@]}"; do
    built="target/lambda/$function/bootstrap.zip"
    if [ ! -f "$built" ]; then
        echo "package: cargo lambda did not produce $built" >&2
        exit 1
    fi
    zip="dist/$function-$architecture.zip"
    cp "$built" "$zip"
    echo "  $zip $(stat -c %s "$zip") $(sha256sum "$zip" | cut -d' ' -f1)" >>dist/manifest.txt
done
cat dist/manifest.txt
