#!/usr/bin/env bash
# Installs every Debian 12 package that hashmatch's build, tests and benchmarks need.
# Idempotent and non-interactive: packages already present are skipped, and apt is not
# touched at all when nothing is missing. Run as root (or with sudo available).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache git clang-format
  # engine: image decode (the split OpenCV packages: ~177 MB instead of ~675 MB), digests
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libssl-dev
  # engine: video demux/decode from memory
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev
  # index: FAISS (static, needs BLAS/LAPACK) and the embedded store
  libfaiss-dev libopenblas-dev libsqlite3-dev
  # service and API
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev libabsl-dev grpc-proto
  # command-line parsing for the tools (header-only); hashmatchd's Prometheus HTTP endpoint
  libcli11-dev libcpp-httplib-dev
  # hashmatch-ingest: streaming JSON (VICS import/export)
  nlohmann-json3-dev
  # tests: Catch2 v2, the Python gRPC client, ffmpeg CLI to make fixture videos
  catch2 python3-grpcio python3-protobuf ffmpeg
  # tests: throwaway TLS certificates for the TLS/mTLS end-to-end test; memcheck of video decoding
  openssl valgrind
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "setup: missing packages (${missing[*]}) and not root" >&2; exit 1; }
  sudo=sudo
fi
echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
