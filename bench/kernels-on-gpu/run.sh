#!/bin/bash
# Kernel tests + timings on a bare GPU machine: Dawn (dawn.node) over the NVIDIA Vulkan driver.
# Copied into .kernelcheck/ by build.mjs; run from anywhere: bash .kernelcheck/run.sh
# KERNEL_BENCH_ONLY=1 skips the tests.
set -u
cd "$(dirname "$0")"
for f in gl/*.deb; do dpkg -x "$f" /; done; ldconfig
xz -dc node.xz > /tmp/node && chmod +x /tmp/node
xz -dc node_modules/webgpu/dist/linux-x64/dawn.node.xz > node_modules/webgpu/dist/linux-x64/dawn.node
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cd .. && KERNEL_BENCH=1 KERNEL_BENCH_ONLY=${KERNEL_BENCH_ONLY:-} /tmp/node .kernelcheck/kernels.check.mjs
