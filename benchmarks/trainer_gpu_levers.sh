#!/usr/bin/env bash
# The levers towards 30% MFU on proxy-200m, one case per GPU call of under 10 minutes (carry build/gpu_kernels and
# build/gpu_caches; unpack each returned gpu_caches.tgz into build/gpu_caches). On a fresh box run `build` first,
# then `repeat` and `presets` (session 8's figures). The other cases are the earlier sessions' steps:
#   OUT=results bash benchmarks/trainer_gpu_levers.sh fla     # builds causal-conv1d (~8 min on a fresh box) while
#                                                            # chunk 256 and coordinate descent are timed with FLA's conv
#   OUT=results bash benchmarks/trainer_gpu_levers.sh mixer   # chunk 256 on the mixer path: batch 64, and a batch-48
#                                                            # step's kernel table
#   OUT=results bash benchmarks/trainer_gpu_levers.sh graph   # the mixer path (a custom op since session 6), then
#                                                            # with each whole step one CUDA graph
#                                                            # (checked against eager steps first), chunk 256 and 128
#   OUT=results bash benchmarks/trainer_gpu_levers.sh padding # what inductor copies around the mixer op; the mixer
#                                                            # path and its CUDA graph without comprehensive padding
#   OUT=results bash benchmarks/trainer_gpu_levers.sh saved   # the mixer op without the backward's recompute
#   OUT=results bash benchmarks/trainer_gpu_levers.sh batch   # that at chunk 128, batch 40 to 64
#   OUT=results bash benchmarks/trainer_gpu_levers.sh build   # a fresh box without carried caches: causal-conv1d
#                                                            # builds while FLA's conv path autotunes mamba_ssm
#   OUT=results bash benchmarks/trainer_gpu_levers.sh repeat  # b64 and b48 at chunk 128 and 256 on one box
#   OUT=results bash benchmarks/trainer_gpu_levers.sh presets # every preset eager and compiled, plain PyTorch then
#                                                            # the mixer path
# Inductor's coordinate descent compiled proxy-200m for over 4 minutes without finishing: too slow for one call.
# SSD chunk 256 is mamba_ssm's default (128 is the model's). flops_per_token counts the SSD's intra-chunk work,
# which grows with the chunk: compare tok/s across chunk sizes.
set -u
DEADLINE=${DEADLINE:-550}
source benchmarks/gpu_env.sh
run200m() {  # name, seconds, conv kernel, batch, extra flags...
  local name=$1 limit=$2 conv=$3 batch=$4
  shift 4
  step "$name" "$limit" python3 benchmarks/trainer_gpu.py --presets proxy-200m --modes compile --batch "$batch" \
    --mamba-ssm-src $kernels/mamba_ssm --set mamba_kernel=mamba_ssm --set conv_kernel="$conv" --set mamba_chunk=256 \
    --out "$out/$name.json" "$@"
}
case ${1:-fla} in
  fla)
    build_causal_conv1d
    run200m fla_b48_chunk256 220 fla 48
    run200m fla_b48_chunk256_coord 240 fla 48 --coord-descent
    wait_build $((DEADLINE - SECONDS - 20))
    use_causal_conv1d ;;
  mixer)
    run200m mixer_b64_chunk256 200 causal_conv1d 64
    run200m mixer_b48_chunk256_profile 200 causal_conv1d 48 --profile "$out/mixer_b48_chunk256_step.txt" ;;
  graph)
    # first without a CUDA graph: the mixer as a custom op (no graph breaks) against session 6's 442-446k tok/s
    run200m mixer_op_b48_chunk256 150 causal_conv1d 48
    run200m graph_b48_chunk256 200 causal_conv1d 48 --cuda-graph
    run200m graph_b64_chunk256 150 causal_conv1d 64 --cuda-graph
    run200m graph_b48_chunk128 150 causal_conv1d 48 --cuda-graph --set mamba_chunk=128
    # if time is left: a plain step's kernel table with the aten ops split by input shape (the eager sums and adds)
    run200m mixer_b48_chunk256_shapes 120 causal_conv1d 48 --profile "$out/mixer_b48_chunk256_step.txt" ;;
  padding)
    # the custom op ran 10 ms slower than session 6's graph breaks, with a 0.6 ms copy of zxbcdt-sized tensors
    # around each mixer call and its backward: inductor's generated code for one Mamba layer says what they copy,
    # then the same runs without inductor's comprehensive padding (in_proj's 4640 bf16 columns are not 128-byte rows)
    (export TORCH_LOGS=output_code TORCHINDUCTOR_FORCE_DISABLE_CACHES=1
     run200m output_code_one_layer 120 causal_conv1d 8 --set pattern=M --steps 2 --warmup 1)
    export TORCHINDUCTOR_COMPREHENSIVE_PADDING=0
    run200m nopad_b48_chunk256 150 causal_conv1d 48
    run200m nopad_graph_b48_chunk256 200 causal_conv1d 48 --cuda-graph
    run200m nopad_b48_chunk256_profile 120 causal_conv1d 48 --profile "$out/nopad_b48_chunk256_step.txt" ;;
  saved)
    # the mixer op keeps the conv output, chunk states and C B^T for its backward (no recompute), rows unpadded
    run200m saved_b48_chunk256 150 causal_conv1d 48
    run200m saved_b48_chunk128 130 causal_conv1d 48 --set mamba_chunk=128
    run200m saved_graph_b48_chunk256 150 causal_conv1d 48 --cuda-graph
    run200m saved_b48_chunk256_profile 120 causal_conv1d 48 --profile "$out/saved_b48_chunk256_step.txt" ;;
  batch)
    # the same at chunk 128 (the FLOP count the 30% target was set with) over batch sizes, b48 first as this box's
    # reference point
    for batch in 48 64 40 56; do
      run200m saved_b${batch}_chunk128 170 causal_conv1d $batch --set mamba_chunk=128
    done ;;
  build)
    build_causal_conv1d
    run200m fla_b48_chunk128 240 fla 48 --set mamba_chunk=128
    wait_build $((DEADLINE - SECONDS - 20))
    use_causal_conv1d ;;
  repeat)
    # batch 64 and 48 again on one box, chunk 128 and 256
    run200m repeat_b64_chunk128 170 causal_conv1d 64 --set mamba_chunk=128
    run200m repeat_b48_chunk128 120 causal_conv1d 48 --set mamba_chunk=128
    run200m repeat_b64_chunk256 120 causal_conv1d 64
    run200m repeat_b48_chunk256 120 causal_conv1d 48 ;;
  presets)
    step presets_plain 260 python3 benchmarks/trainer_gpu.py --out "$out/presets_plain.json"
    step presets_mixer 260 python3 benchmarks/trainer_gpu.py --mamba-ssm-src $kernels/mamba_ssm \
      --set mamba_kernel=mamba_ssm --set conv_kernel=causal_conv1d --out "$out/presets_mixer.json" ;;
esac
save_caches
pack_results
