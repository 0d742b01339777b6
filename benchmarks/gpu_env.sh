# Sourced by the GPU benchmark scripts, for a lent box where corpusforge is not installed and nothing can be
# downloaded: puts the repository on PYTHONPATH as `corpusforge`, unpacks the fused-kernel packages fetched by
# benchmarks/fetch_gpu_kernels.sh (carried in build/gpu_kernels), and restores the Triton and inductor caches a
# previous run saved (build/gpu_caches): a fresh machine then skips 70-90 s of autotuning and most of the compile.
out=${OUT:-benchmarks/results}
kernels=build/gpu_kernels
mkdir -p "$out" /tmp/corpusforge_path
ln -sfn "$PWD" /tmp/corpusforge_path/corpusforge
python3 -m zipfile -e $kernels/fla_core-*.whl /tmp/corpusforge_path          # FLA's causal conv (pure Triton)
export PYTHONPATH=/tmp/corpusforge_path${PYTHONPATH:+:$PYTHONPATH}
export TRITON_CACHE_DIR=/tmp/triton_cache TORCHINDUCTOR_CACHE_DIR=/tmp/inductor_cache
caches=build/gpu_caches  # what save_caches brought back from an earlier call, unpacked
[ -d $caches/triton ] && mkdir -p $TRITON_CACHE_DIR && cp -r $caches/triton/. $TRITON_CACHE_DIR/
[ -d $caches/inductor ] && mkdir -p $TORCHINDUCTOR_CACHE_DIR && cp -r $caches/inductor/. $TORCHINDUCTOR_CACHE_DIR/
[ -d $caches/causal_conv1d_built ] && cp -r $caches/causal_conv1d_built/. /tmp/corpusforge_path/
export TRITON_PRINT_AUTOTUNING=1                          # each kernel's autotuning time, in the logs
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"

step() {  # name, seconds, command...: its log under $out, a summary printed; cut to fit $DEADLINE if set
  local name=$1 limit=$2
  shift 2
  [ -n "${DEADLINE:-}" ] && [ $((DEADLINE - SECONDS)) -lt "$limit" ] && limit=$((DEADLINE - SECONDS))
  [ "$limit" -lt 30 ] && { echo "== $name skipped: ${limit}s left before the deadline"; return; }
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  echo "== $name (exit $?)"
  grep -E "^proxy-|^layer|^head|warm-up|rel_err|ERROR|Error" "$out/$name.log" | tail -8
  awk '/finished after/ {gsub(/[^0-9.]/, "", $3); n++; t += $3}
       END {if (n) printf "autotuned %d kernel keys in %.1f s\n", n, t}' "$out/$name.log"
}

build_causal_conv1d() {  # in the background, unless a carried build imports; `wait; use_causal_conv1d` after
  python3 -c "import torch, causal_conv1d_cuda" 2>/dev/null && return
  (bash benchmarks/build_causal_conv1d.sh $kernels/causal_conv1d /tmp/causal_conv1d_built \
    > "$out/build_causal_conv1d.log" 2>&1; echo "build exit $? after ${SECONDS}s" >> "$out/build_causal_conv1d.log") &
  build_pid=$!
}

wait_build() {  # seconds to wait at most: an H100 box builds causal-conv1d in about 8 minutes
  local until=$((SECONDS + $1))
  while [ -n "${build_pid:-}" ] && kill -0 "$build_pid" 2>/dev/null && [ $SECONDS -lt $until ]; do sleep 2; done
}

use_causal_conv1d() {
  [ -d /tmp/causal_conv1d_built ] && cp -r /tmp/causal_conv1d_built/. /tmp/corpusforge_path/
  tail -2 "$out/build_causal_conv1d.log" 2>/dev/null
}

save_caches() {  # $out/gpu_caches.tgz: Triton's autotuning choices, then causal-conv1d's build and inductor's cache
  local dir=/tmp/gpu_caches                         # each as far as the archive stays under the 16 MiB a file may be
  rm -rf $dir && mkdir -p $dir/triton
  (cd $TRITON_CACHE_DIR && find . -name "*.autotune.json" -exec cp --parents {} $dir/triton/ \;)
  tar czf "$out/gpu_caches.tgz" -C $dir .
  if python3 -c "import torch, causal_conv1d_cuda" 2>/dev/null; then
    mkdir -p $dir/causal_conv1d_built
    cp -r /tmp/corpusforge_path/causal_conv1d /tmp/corpusforge_path/causal_conv1d_cuda*.so $dir/causal_conv1d_built/
    strip --strip-unneeded $dir/causal_conv1d_built/*.so
    _keep_if_fits $dir causal_conv1d_built
  fi
  cp -r $TORCHINDUCTOR_CACHE_DIR $dir/inductor && _keep_if_fits $dir inductor
  ls -la "$out/gpu_caches.tgz"
}

_keep_if_fits() {  # dir, part: repack with the part; keep that archive if it fits, else drop the part
  tar czf /tmp/gpu_caches_try.tgz -C "$1" .
  if [ "$(stat -c %s /tmp/gpu_caches_try.tgz)" -lt 15000000 ]; then
    mv /tmp/gpu_caches_try.tgz "$out/gpu_caches.tgz"
  else
    echo "gpu_caches: $2 left out (too large to bring back)" && rm -rf "${1:?}/$2"
  fi
}

pack_results() {  # everything else under $out into results.tgz: a device call brings back at most 8 files
  (cd "$out" && find . -type f ! -name "*.tgz" | tar czf results.tgz -T - && find . -type f ! -name "*.tgz" -delete)
}
