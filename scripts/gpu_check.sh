#!/usr/bin/env bash
# One prepared GPU session: CUDA tests, renderer and training benchmarks (ResNet-34 at
# 224 px, fp32 and bf16), sweep throughput at 1, 2 and 4 cells per GPU, the projected
# time of the `full` grid, a reduced `full` sweep with GPU utilisation logged, and the
# analysis of that sweep; then fastai 2.8 (8 epochs) vs the kit's short schedule on the same images
# (time to test accuracy, 3 seeds, interleaved) and one whole kit cell timed part by part, when fastai's wheels are in .whl
# (pip download fastai==2.8.12 fastcore fasttransform fastprogress fastdownload plum-dispatch -d .whl).
# Run through the device tool with `.whl` carried (wheels the GPU image lacks):
#   bash scripts/gpu_check.sh          (writes what it measured under $OUT)
set -u
OUT=${OUT:-/tmp/gpu_check}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=$PWD:/tmp/site
fi
stamp() { echo "== $(date +%s) $*"; }
stamp env
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, torchvision, timm; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'timm', timm.__version__, 'cuda', torch.cuda.is_available())" || exit 3
nproc
nvidia-smi dmon -s u -d 1 -o T > "$OUT/dmon.txt" 2>&1 &
stamp pytest-cuda
timeout 150 python3 -m pytest -q -x -p no:cacheprovider tests/synth/test_render.py tests/study/test_cuda.py -k cuda 2>&1 | tail -5
stamp bench-synth
timeout 120 python3 -m study.bench synth --device cpu cuda --n 2000
stamp bench-train-r34-224
timeout 200 python3 -m study.bench train --device cuda --arch resnet34 --size 224 --batch-size 256 --steps 30 --repeats 3 --warmup 5 \
  && cp .cache/bench/train-cuda.json "$OUT/bench_train_cuda.json"
# Small cells sharing one GPU: the same 8 quick-sized cells (64 px, 2,000 images) at 1, 2
# and 4 cells per GPU; the wall time of each says how much sharing buys.
for n in 1 2 4; do
  stamp "cells-per-gpu-$n"
  start=$(date +%s)
  timeout 150 python3 -m study.sweep --preset quick --set grid.seed=0,1 --device cuda --cells-per-gpu "$n" \
    --out "/tmp/share-$n" --no-report --quiet 2>&1 | tail -3
  echo "cells-per-gpu $n: 8 cells in $(( $(date +%s) - start )) s" | tee -a "$OUT/cells_per_gpu.txt"
done
stamp full-dry-run
# The projected time of the 540-cell grid, calibrated from the bench file written above.
timeout 60 python3 -m study.sweep --preset full --dry-run --device cuda 2>&1 | tail -2 | tee "$OUT/full_projection.txt"
stamp sweep-full-mini
timeout 240 python3 -m study.sweep --preset full --set grid.counts=1-5,45-50 --set grid.aug=fastai,sensible \
  --set grid.weights=none --set grid.sizes=fixed --set grid.n_train=2500 --set grid.seed=0 \
  --out /tmp/full-mini --no-report --device cuda 2>&1 | tail -12
stamp analysis
timeout 120 python3 -m analysis /tmp/full-mini --quick --device cuda 2>&1 | tail -5
stamp bench-cell-cuda
timeout 120 python3 -m study.bench cell --device cuda --set counts=45-50 --repeats 2 2>&1 | tail -4 \
  | tee "$OUT/bench_cell_cuda.txt"
if python3 -c "import fastai" 2>/dev/null; then
  stamp compare-fastai-cuda
  # fastai's 8 epochs against the kit's short schedule (README, "Short schedules")
  timeout 420 python3 scripts/compare_fastai.py --device cuda --fastai-python python3 --counts 45-50 1-5 \
    --seeds 0 1 2 --kit-set epochs=4 --kit-set lr=5e-3 --kit-set head_dropout=0 --kit-set bn_stats=precise \
    --out /tmp/compare-cuda 2>&1 | tail -16 | tee "$OUT/compare_fastai_cuda.txt"
  cp /tmp/compare-cuda/results.jsonl "$OUT/compare_fastai_cuda.jsonl" 2>/dev/null
else
  echo "fastai not installed (no wheels in .whl): comparison skipped" | tee "$OUT/compare_fastai_cuda.txt"
fi
stamp end
cp /tmp/full-mini/results.csv "$OUT/full_mini_results.csv" 2>/dev/null
tar -czf "$OUT/full_mini.tgz" -C /tmp --exclude='*.pt' --exclude='.cache' full-mini 2>/dev/null
kill %1 2>/dev/null
