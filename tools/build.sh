#!/usr/bin/env bash
# Installs what is missing (tools/setup-debian.sh), then configures and builds hashmatch into
# build/ (programs in build/bin/). Extra arguments go to the CMake configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-debian.sh
cmake -S . -B build -G Ninja "$@"
cmake --build build
