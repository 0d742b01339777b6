#!/usr/bin/env bash
# Fetch the optional fused SSD kernels into build/gpu_kernels/ for a GPU box with no package index (such as a lent
# benchmark machine): mamba_ssm's source (its Triton SSD kernels import from the unbuilt tree through
# `--mamba-ssm-src`) and flash-linear-attention's wheels. On the GPU box:
#   python benchmarks/trainer_gpu.py --set mamba_kernel=mamba_ssm --mamba-ssm-src build/gpu_kernels/mamba_ssm
#   pip install --no-deps build/gpu_kernels/*.whl && python benchmarks/trainer_gpu.py --set mamba_kernel=fla
set -euo pipefail
out=build/gpu_kernels
mkdir -p "$out"
pip download --no-deps --only-binary=:all: fla-core einops -d "$out"
url=$(python3 -c "import json, urllib.request as u; d = json.load(u.urlopen('https://pypi.org/pypi/mamba-ssm/json'));
print(next(f['url'] for f in d['urls'] if f['packagetype'] == 'sdist'))")
curl -sSL "$url" | tar xz -C "$out"
rm -rf "$out/mamba_ssm" && mv "$out"/mamba_ssm-*/ "$out/mamba_ssm"
du -sh "$out"
