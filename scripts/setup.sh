#!/usr/bin/env bash
# Everything a fresh Debian/Ubuntu machine needs before the studio or its tests run:
#  - Debian's chromium (the browser tests, and SwiftShader's Vulkan driver for WebGPU without a GPU),
#  - libvulkan1 (the Vulkan loader that Node's WebGPU, Dawn, opens),
#  - the npm dependencies, exactly as locked.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1' || missing+=(libvulkan1)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} (Debian packages)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
