#!/usr/bin/env bash
# Fetch the optional fused SSD kernels into build/gpu_kernels/ for a GPU box with no package index (such as a lent
# benchmark machine): mamba_ssm's source (its Triton SSD kernels import from the unbuilt tree through
# `--mamba-ssm-src`), flash-linear-attention's wheels, and causal-conv1d's CUDA source (built on the GPU box by
# benchmarks/build_causal_conv1d.sh, which needs nvcc but no network). On the GPU box:
#   python benchmarks/trainer_gpu.py --set mamba_kernel=mamba_ssm --mamba-ssm-src build/gpu_kernels/mamba_ssm
#   pip install --no-deps build/gpu_kernels/*.whl && python benchmarks/trainer_gpu.py --set mamba_kernel=fla
set -euo pipefail
out=build/gpu_kernels
mkdir -p "$out"
pip download --no-deps --only-binary=:all: fla-core einops -d "$out"
for pkg in mamba-ssm causal-conv1d; do
  url=$(python3 -c "import json, urllib.request as u; d = json.load(u.urlopen('https://pypi.org/pypi/$pkg/json'));
print(next(f['url'] for f in d['urls'] if f['packagetype'] == 'sdist'))")
  dir=${pkg//-/_}
  curl -sSL "$url" | tar xz -C "$out"
  rm -rf "${out:?}/$dir" && mv "$out/$dir"-*/ "$out/$dir"
done
du -sh "$out"
