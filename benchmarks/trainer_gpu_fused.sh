#!/usr/bin/env bash
# The fused-kernel measurement in one GPU call (each step cut to end by $DEADLINE s), for a box where corpusforge is not
# installed and nothing can be downloaded. First, with a package index:
#   bash benchmarks/fetch_gpu_kernels.sh   # -> build/gpu_kernels (mamba_ssm and causal-conv1d source, FLA wheel)
# then on the GPU box, from the repository root (with build/gpu_kernels, and build/gpu_caches if any, carried along):
#   OUT=results bash benchmarks/trainer_gpu_fused.sh
# It builds causal-conv1d for this GPU while the Mamba layer with FLA's conv autotunes mamba_ssm's kernels, then
# times proxy-200m on Megatron-LM's mixer path (mamba_ssm + causal-conv1d) at batch 48 and 64, and profiles that
# layer. Building causal-conv1d takes ~8 minutes on a fresh H100 box, so the first call may end with the build
# alone. $OUT gets results.tgz (logs, JSON, kernel tables) and gpu_caches.tgz: unpack that into build/gpu_caches
# and carry it next time (Triton's autotuning and the build are then skipped).
set -u
DEADLINE=${DEADLINE:-550}
source benchmarks/gpu_env.sh
src=$kernels/mamba_ssm
build_causal_conv1d
step parts_M_fla 240 python3 benchmarks/trainer_gpu_parts.py --kinds M --skip-base --ce-chunks "" \
  --variant mamba_kernel='"mamba_ssm"',conv_kernel='"fla"' --mamba-ssm-src "$src" --profile "$out/prof" \
  --out "$out/parts_M_fla.json"
wait_build $((DEADLINE - SECONDS - 20))
use_causal_conv1d
step fused_200m_b48 220 python3 benchmarks/trainer_gpu.py --presets proxy-200m --modes compile --batch 48 \
  --set mamba_kernel=mamba_ssm --set conv_kernel=causal_conv1d --mamba-ssm-src "$src" --out "$out/fused_200m_b48.json"
step fused_200m_b64 120 python3 benchmarks/trainer_gpu.py --presets proxy-200m --modes compile --batch 64 \
  --set mamba_kernel=mamba_ssm --set conv_kernel=causal_conv1d --mamba-ssm-src "$src" --out "$out/fused_200m_b64.json"
step parts_M_mixer 90 python3 benchmarks/trainer_gpu_parts.py --kinds M --skip-base --ce-chunks "" \
  --variant mamba_kernel='"mamba_ssm"',conv_kernel='"causal_conv1d"' --mamba-ssm-src "$src" --profile "$out/prof" \
  --out "$out/parts_M_mixer.json"
save_caches
pack_results
