#!/usr/bin/env bash
# The one short GPU check (issue 15's GPU column): run it on a machine with CUDA, from the
# repository root, when a session is lent one. About 4-5 minutes on an H100; everything it
# measures lands in $OUT (default benchmarks/results/gpu/), one file per part:
#   cuda_tests.txt       the CUDA tests (a run on the device; no host sync between snapshots)
#   fc8_seconds.txt      the paper-schedule AlexNet fc8 400-step inversion (target: under 2 s)
#   speed_methods.md     speed.py's per-step table for every method and parameterisation
#   peers.md             peers.py's race at conv1, fire9 and the logits on three photographs
#                        (real SqueezeNet weights; skipped where ../shared/weights is absent)
# DEVICE=cpu QUICK=1 benchmarks/gpu_check.sh runs the same parts as a smoke run on a CPU.
set -euo pipefail
OUT=${OUT:-benchmarks/results/gpu}
DEVICE=${DEVICE:-cuda}
QUICK=${QUICK:-}
WEIGHTS=../shared/weights/squeezenet1_1-imagenet.safetensors
mkdir -p "$OUT"
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}

echo "== CUDA tests"
python -m pytest -q -p no:cacheprovider tests/test_engine.py -k cuda -rs 2>&1 | tee "$OUT/cuda_tests.txt"

echo "== AlexNet fc8, the CVPR schedule, 400 steps"
ITERATIONS=$([ -n "$QUICK" ] && echo 20 || echo 400) python - <<'EOF' 2>&1 | tee "$OUT/fc8_seconds.txt"
import os, torch
from inverter import load_representation
from inverter.engine import reconstruct
from inverter.images import load_image
device, steps = os.environ.get("DEVICE", "cuda"), int(os.environ["ITERATIONS"])
rep = load_representation("alexnet:fc8", weights="random", device=device)
image = load_image("examples/chelsea.png")
reconstruct(rep, image, method="cvpr", iterations=10, seed=0, snapshot_every=10**9)  # warm-up: kernels, cuDNN
for seed in range(3):
    shot = reconstruct(rep, image, method="cvpr", iterations=steps, seed=seed, snapshot_every=10**9)
    print(f"alexnet:fc8 on {torch.device(device)} ({torch.cuda.get_device_name() if device.startswith('cuda') else 'CPU'}): "
          f"{shot.step} steps in {shot.elapsed:.2f} s (seed {seed}; target: under 2 s for 400)")
EOF

echo "== per-step time, every method and parameterisation"
SPEED=(--device "$DEVICE" --no-memory --only alexnet:conv1,alexnet:conv5,alexnet:fc8,squeezenet1_1:fire3,squeezenet1_1:fire9,hog)
[ -n "$QUICK" ] && SPEED+=(--quick) || SPEED+=(--rounds 3)
python benchmarks/speed.py "${SPEED[@]}" \
    --candidate "cvpr=--method cvpr" --candidate "cvpr+fourier=--method cvpr --parameterisation fourier" \
    --candidate "ijcv=--method ijcv" --candidate "ijcv+fourier=--method ijcv --parameterisation fourier" \
    --candidate "default=" > "$OUT/speed_methods.md"
tail -n 12 "$OUT/speed_methods.md"

echo "== the race against the public PyTorch loop"
if [ -f "$WEIGHTS" ]; then
    PEERS=(--device "$DEVICE" --weights "$WEIGHTS" --layers conv1,fire9,logits --images rocket,motorcycle,camera
           --candidate "cvpr=--method cvpr" --candidate "default=" --candidate "fast=--method fast")
    [ -n "$QUICK" ] && PEERS=(--device "$DEVICE" --quick --layers conv1,logits --images rocket)
    python benchmarks/peers.py "${PEERS[@]}" > "$OUT/peers.md"
    grep -A 12 "^## Summary" "$OUT/peers.md" || tail -n 12 "$OUT/peers.md"
else
    echo "no $WEIGHTS here: the race is skipped" | tee "$OUT/peers.md"
fi
