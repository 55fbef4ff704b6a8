#!/usr/bin/env bash
# Quick start (2): set up, build, and run every test (Catch2 unit tests and the end-to-end tests
# that drive the real binaries), plus the index's concurrency test and the audit log's tests
# built with ThreadSanitizer in build-tsan/ (only the targets they need). ctest's summary line is
# the last thing printed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh -DHM_TSAN_TESTS_DIR="$PWD/build-tsan/tests"
cmake -S . -B build-tsan -G Ninja -DHM_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build-tsan --target matcher_test audit_test
cd build
ctest --output-on-failure --no-tests=error -j "$(nproc)"
