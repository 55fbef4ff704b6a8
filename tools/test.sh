#!/usr/bin/env bash
# Quick start (2): set up, build, and run every test (Catch2 unit tests and the end-to-end tests
# that drive the real binaries). ctest's summary line is the last thing printed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh
cd build
ctest --output-on-failure --no-tests=error -j "$(nproc)"
