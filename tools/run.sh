#!/usr/bin/env bash
# Quick start (1): set up, build, and run hashmatchd on its embedded default: a SQLite store in
# ./hashmatch-data, the public test images as VERIFIED demo descriptors, loopback only
# (127.0.0.1:50051), one API key per role in hashmatch-data/demo-keys.json. Shows a first match
# with the CLI, then keeps serving until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh
images="${HM_DEMO_IMAGES:-../shared/testdata/pdq/images}"
build/bin/hashmatchd --data hashmatch-data --listen 127.0.0.1:50051 --demo --demo-images "$images" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || true; wait "$server" || true' INT TERM EXIT
first=$(find "$images" -maxdepth 1 -name '*.jpg' | sort | head -1)
echo "== hashmatch match $first"
for _ in $(seq 1 150); do  # until the index is loaded (exit 2 while the server starts)
  rc=0
  build/bin/hashmatch match "$first" 2>/dev/null || rc=$?
  [ "$rc" != 2 ] && break
  sleep 0.2
done
echo "== hashmatchd serving on 127.0.0.1:50051 (keys: hashmatch-data/demo-keys.json). Ctrl-C stops it."
wait "$server"
