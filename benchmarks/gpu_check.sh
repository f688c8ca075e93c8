#!/usr/bin/env bash
# The GPU check: everything a CPU machine cannot measure, in one run of at most 8 minutes on one GPU.
#
#   bash benchmarks/gpu_check.sh            # on a CUDA machine
#   bash benchmarks/gpu_check.sh --dry-run  # every part on the CPU at tiny sizes (tests/test_gpu_check.py)
#
# Parts: the CUDA tests (pytest -m cuda); student training img/s against the reference-style loop
# (resnet8x4 and wrn_40_2, 32 px, batch 64 and 512, bf16), and resnet8x4 at batch 512 compiled;
# BigGAN training it/s at the CIFAR-100 preset (float32 and bf16); sample -> cDR-RS -> filter ->
# adjust accepted fakes/s (untrained CIFAR-100 nets); a DDP smoke run of two processes sharing
# one GPU. Everything it writes goes under $OUT (default: a new temp folder); PYTHON picks the
# interpreter (default: python).
set -euo pipefail
cd "$(dirname "$0")/.."

DRY=0
case "${1:-}" in
  --dry-run) DRY=1 ;;
  "") ;;
  *) echo "usage: bash benchmarks/gpu_check.sh [--dry-run]" >&2; exit 2 ;;
esac
OUT="${OUT:-$(mktemp -d -t gpu_check.XXXXXX)}"
mkdir -p "$OUT"
PY="${PYTHON:-python}"
START=$SECONDS

section() { echo; echo "=== $1  [$((SECONDS - START)) s]"; }

if (( DRY )); then
  DEVICE=cpu
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"   # tiny sizes gain nothing from threads on a shared CPU
  TRAIN=(--archs resnet8x4 wrn_40_2 --batch-sizes 4 --steps 1 --warmup 1 --repeats 1 --workers 2)
  COMPILED=(--archs resnet8x4 --batch-sizes 4 --steps 1 --warmup 1 --repeats 1 --workers 2 --compile)
  NO_COMPILE=1          # the compiled part runs eagerly: compiling on a CPU would take minutes
  GAN=(--presets cifar100 --iters 1 --batch-size 8 --sample-n 16 --set g_ch=2 --set d_ch=2 --threads 1)
  FAKE=(--nfake 20 --real-per-class 2 --teacher-arch resnet8 --gan-set g_ch=2 --gan-set d_ch=2
        --gan-set standing_stats=1 --set filter_burn_in=2 --set fit_size=200 --set batch_size=200
        --set "cdr_rs={'dr': {'epochs': 1, 'batch_size': 64}, 'rs': {'burn_in': 8, 'batch_size': 8}}")
  SMOKE=(--device cpu --epochs 1 --batch-size 32 --iters 2 --gan-set g_ch=4 --gan-set d_ch=4
         --gan-set standing_stats=1 --gan-set log_every=1 --gan-set ckpt_every=2 --gan-set grid_rows=2
         --gan-set grid_cols=2)
  SMOKE_N=256
  echo "gpu_check dry run on the CPU ($(nproc) cores); OUT=$OUT"
else
  DEVICE=cuda
  TRAIN=(--archs resnet8x4 wrn_40_2 --batch-sizes 64 512 --steps 60 --warmup 10 --repeats 1 --workers 2)
  COMPILED=(--archs resnet8x4 --batch-sizes 512 --steps 60 --warmup 10 --repeats 1 --workers 2 --compile)
  GAN=(--presets cifar100 --iters 20 --sample-n 20000 --amp)
  # The preset's settings, but 20 density-ratio epochs instead of 200 to fit the time budget.
  FAKE=(--nfake 20000 --real-per-class 500 --set "cdr_rs={'dr': {'epochs': 20}}")
  SMOKE=(--device cuda --epochs 2 --batch-size 256 --iters 20)
  SMOKE_N=8192
  NO_COMPILE=0
  "$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device: use --dry-run'; \
print('gpu_check on', torch.cuda.get_device_name(0), '| torch', torch.__version__, '| CUDA', torch.version.cuda, \
'| bf16', torch.cuda.is_bf16_supported())"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  echo "OUT=$OUT"
fi

section "CUDA tests (pytest -m cuda)"
"$PY" -m pytest -m cuda tests/test_cuda.py -p no:cacheprovider --basetemp "$OUT/pytest" 2>&1 | tail -n 5

section "student training: trainer vs reference-style loop (img/s)"
"$PY" benchmarks/train_throughput.py "${TRAIN[@]}" --device "$DEVICE" --out "$OUT/train"
TORCHDYNAMO_DISABLE=$NO_COMPILE "$PY" benchmarks/train_throughput.py "${COMPILED[@]}" --device "$DEVICE" \
  --out "$OUT/train_compiled"

section "BigGAN training at the CIFAR-100 preset (it/s)"
"$PY" benchmarks/gan_throughput.py "${GAN[@]}" --device "$DEVICE"

section "sample -> cDR-RS -> filter -> adjust (accepted fakes/s)"
"$PY" benchmarks/fake_throughput.py --synthetic cifar100 --pipelines 2 "${FAKE[@]}" --device "$DEVICE"

section "DDP smoke run: two processes on one device"
"$PY" - "$OUT/smoke/data.h5" "$SMOKE_N" <<'PYEOF'
import sys
import numpy as np
from cgankd.data import Split, write_dataset_h5
n, rng = int(sys.argv[2]), np.random.default_rng(0)
labels = np.arange(n) % 10
images = rng.integers(0, 64, (n, 3, 32, 32), dtype=np.uint8)
for c in range(10):                      # class c lights up its own band of rows: learnable
    images[labels == c, :, 3 * c:3 * c + 3] += 150
write_dataset_h5(sys.argv[1], Split(images, labels), Split(images[:1024], labels[:1024]), {"task": "classification"})
PYEOF
"$PY" -m torch.distributed.run --standalone --nproc_per_node=2 benchmarks/ddp_smoke.py "$OUT/smoke/data.h5" \
  "$OUT/smoke" "${SMOKE[@]}" 2>&1 | grep -v -i "warn" | grep "DDP smoke"

section "done"
echo "gpu_check finished in $((SECONDS - START)) s; files under $OUT"
