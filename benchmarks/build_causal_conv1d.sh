#!/usr/bin/env bash
# Build causal-conv1d's CUDA extension (Tri Dao's causal depthwise conv, what Megatron-LM's Mamba-2 layers call) for
# this machine's GPU architecture only: ~8 minutes on an H100 box, where the sdist's own build compiles for ten
# architectures.
# Needs nvcc and torch, no network. Usage (from the repository root, after benchmarks/fetch_gpu_kernels.sh):
#   bash benchmarks/build_causal_conv1d.sh [SRC] [DEST]      # then DEST on PYTHONPATH gives `import causal_conv1d`
set -euo pipefail
src=$(realpath "${1:-build/gpu_kernels/causal_conv1d}")
dest=$(realpath -m "${2:-build/gpu_kernels/causal_conv1d_built}")
work=$(mktemp -d)
cp -r "$src"/. "$work"
cd "$work"
cat > build_one_arch.py <<'PY'
import shutil

import torch
import torch.utils.cpp_extension as cpp
from setuptools import setup

major, minor = torch.cuda.get_device_capability()
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), nvcc from {cpp.CUDA_HOME}, sm_{major}{minor}")
flags = ["-O3", "--use_fast_math", "--expt-relaxed-constexpr", "--expt-extended-lambda",
         *(f"-U__CUDA_NO_{kind}__" for kind in ("HALF_OPERATORS", "HALF_CONVERSIONS", "BFLOAT16_OPERATORS",
                                                 "BFLOAT16_CONVERSIONS", "BFLOAT162_OPERATORS",
                                                 "BFLOAT162_CONVERSIONS")),
         "-gencode", f"arch=compute_{major}{minor},code=sm_{major}{minor}"]
ext = cpp.CUDAExtension("causal_conv1d_cuda",
                        ["csrc/causal_conv1d.cpp", "csrc/causal_conv1d_fwd.cu", "csrc/causal_conv1d_bwd.cu",
                         "csrc/causal_conv1d_update.cu"],
                        extra_compile_args={"cxx": ["-O3"], "nvcc": flags}, include_dirs=["csrc"])
setup(name="causal_conv1d_cuda", ext_modules=[ext], script_args=["build_ext", "--inplace"],
      cmdclass={"build_ext": cpp.BuildExtension.with_options(use_ninja=shutil.which("ninja") is not None)})
PY
MAX_JOBS=${MAX_JOBS:-8} python3 build_one_arch.py
mkdir -p "$dest"
cp -r causal_conv1d causal_conv1d_cuda*.so "$dest"/
PYTHONPATH=$dest python3 -c "import torch, causal_conv1d_cuda, causal_conv1d; print('built', causal_conv1d.__file__)"
