#!/usr/bin/env bash
# Quick start (1): set up, build, and run the main job. Until the hashmatchd service lands this
# hashes the public test images and prints one line per image:
#   path, PDQ hex, quality, MD5, SHA-1, SHA-256
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh
images="${HM_DEMO_IMAGES:-../shared/testdata/pdq/images}"
echo "== hashmatch hash $images"
exec build/bin/hashmatch hash "$images"
