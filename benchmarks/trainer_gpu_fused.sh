#!/usr/bin/env bash
# The fused-kernel measurement (mamba_ssm's SSD and gated norm, FLA's causal conv) in one GPU call (about 8 minutes
# on an H100), for a box where corpusforge is not installed and nothing can be downloaded. First, with a package index:
#   bash benchmarks/fetch_gpu_kernels.sh            # -> build/gpu_kernels (mamba_ssm source, fla-core wheel)
# then on the GPU box, from the repository root (with build/gpu_kernels carried along):
#   OUT=results bash benchmarks/trainer_gpu_fused.sh
# Every step has its own time limit and writes its JSON and log under $OUT, so a slow step costs only itself.
set -u
out=${OUT:-benchmarks/results}
mkdir -p "$out" /tmp/corpusforge_path
ln -sfn "$PWD" /tmp/corpusforge_path/corpusforge          # `import corpusforge.*` without installing
python3 -m zipfile -e build/gpu_kernels/fla_core-*.whl /tmp/corpusforge_path   # FLA's causal conv (pure Triton)
export PYTHONPATH=/tmp/corpusforge_path${PYTHONPATH:+:$PYTHONPATH}
src=build/gpu_kernels/mamba_ssm
fused="--set mamba_kernel=mamba_ssm --set conv_kernel=fla --mamba-ssm-src $src"

step() {  # name, seconds, command...
  local name=$1 limit=$2
  shift 2
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  echo "== $name (exit $?)"
  grep -E "^proxy-|^layer|warm-up|rel_err|ERROR" "$out/$name.log" | tail -8
  awk '/finished after/ {gsub(/[^0-9.]/, "", $3); n++; t += $3}
       END {if (n) printf "autotuned %d kernel keys in %.1f s\n", n, t}' "$out/$name.log"
}

export TRITON_PRINT_AUTOTUNING=1                          # each kernel's autotuning time, in the logs
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
# First the Mamba layer alone: its warm-up autotunes the kernels (results cached on disk for the steps after).
step fused_parts_M 220 python3 benchmarks/trainer_gpu_parts.py --kinds M --skip-base --ce-chunks "" \
  --variant mamba_kernel='"mamba_ssm"' --variant mamba_kernel='"mamba_ssm"',conv_kernel='"fla"' \
  --mamba-ssm-src "$src" --profile "$out/prof" --out "$out/fused_parts_M.json"
step fused_200m_b48 200 python3 benchmarks/trainer_gpu.py --presets proxy-200m --modes compile --batch 48 $fused \
  --out "$out/fused_200m_b48.json"
# Batch 64: the fused kernels' activations are smaller (batch 48 peaked at 50 GB), so ~66 GB expected.
step fused_200m_b64 160 python3 benchmarks/trainer_gpu.py --presets proxy-200m --modes compile --batch 64 $fused \
  --out "$out/fused_200m_b64.json"
