#!/usr/bin/env bash
# The untimed levers towards 30% MFU on proxy-200m, on the mixer path (mamba_ssm + causal-conv1d, batch 48), in
# one GPU call: SSD chunk 256 (mamba_ssm's default; 128 is the model's) and inductor's coordinate-descent tuning.
# Same setup as benchmarks/trainer_gpu_fused.sh (carry build/gpu_kernels and build/gpu_caches):
#   OUT=results bash benchmarks/trainer_gpu_levers.sh
# flops_per_token counts the SSD's intra-chunk work, which grows with the chunk: compare tok/s across chunk sizes.
set -u
source benchmarks/gpu_env.sh
src=$kernels/mamba_ssm
mixer="--presets proxy-200m --modes compile --batch 48 --mamba-ssm-src $src --set mamba_kernel=mamba_ssm"
build_causal_conv1d
# While causal-conv1d builds: autotune mamba_ssm's kernels at chunk 256 (cached for the model run after).
step parts_M_chunk256 200 python3 benchmarks/trainer_gpu_parts.py --kinds M --skip-base --ce-chunks "" \
  --variant mamba_kernel='"mamba_ssm"',conv_kernel='"fla"',mamba_chunk=256 --mamba-ssm-src "$src"
wait
use_causal_conv1d
step mixer_b48_chunk256 150 python3 benchmarks/trainer_gpu.py $mixer --set conv_kernel=causal_conv1d \
  --set mamba_chunk=256 --out "$out/mixer_b48_chunk256.json"
step mixer_b48_coord_descent 200 python3 benchmarks/trainer_gpu.py $mixer --set conv_kernel=causal_conv1d \
  --coord-descent --out "$out/mixer_b48_coord_descent.json"
save_caches
pack_results
