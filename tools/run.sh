#!/usr/bin/env bash
# Quick start (1): set up, build, and run hashmatchd on its embedded default: a SQLite store in
# ./hashmatch-data, the public test images as VERIFIED demo descriptors, loopback only
# (127.0.0.1:50051), one API key per role in hashmatch-data/demo-keys.json. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh
images="${HM_DEMO_IMAGES:-../shared/testdata/pdq/images}"
echo "== hashmatchd --demo (keys: hashmatch-data/demo-keys.json; stop with Ctrl-C)"
exec build/bin/hashmatchd --data hashmatch-data --listen 127.0.0.1:50051 --demo \
  --demo-images "$images"
