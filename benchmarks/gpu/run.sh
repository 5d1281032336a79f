#!/usr/bin/env bash
# The GPU measurements, each part ≤ 10 minutes on an H200, from the repository root:
#   bash benchmarks/gpu/run.sh [train]       # on the GPU machine (README.md beside this says how to send it)
#   bash benchmarks/gpu/run.sh eval          # the eval stage, a second device call
#   bash benchmarks/gpu/run.sh --tiny [PART] # the same steps on the CPU with tiny shapes (what the test runs)
# train:
# 1. pretrain: `jaforge pretrain` end to end vs its bare model step vs a transformers loop, bf16, at
#    125M, 350M and 1B, plus torch.compile at 1B (benchmarks/gpu/pretrain_gpu.py, a 330 s budget);
# 2. sft: LoRA tuning vs PEFT + TRL's SFTTrainer on a ~350M model, bf16 (benchmarks/sft.py).
# eval: `jaforge eval` vs lm-eval's HF backend on a random ~1.1B Llama in bf16, both windows, one
#    round (benchmarks/eval.py --device cuda).
# Writes pretrain-gpu.json, sft-gpu.json, eval-cuda.json and their logs into $RESULTS_DIR (default benchmarks/results)
# and copies them to $OUT when it is set. Packages the GPU image lacks travel as wheels in .gpu-whl/
# (fetch_wheels.sh).
set -u -o pipefail
cd "$(dirname "$0")/../.."
TINY=""
PART=train
for arg in "$@"; do
  case "$arg" in
    --tiny) TINY="--tiny" ;;
    train|eval) PART="$arg" ;;
    *) echo "usage: bash benchmarks/gpu/run.sh [--tiny] [train|eval]" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python3}
RESULTS=${RESULTS_DIR:-benchmarks/results}
mkdir -p "$RESULTS"
if ls .gpu-whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/jaforge-site .gpu-whl/*.whl || exit 1
  export PYTHONPATH=/tmp/jaforge-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || echo "no GPU";
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } | tee "$RESULTS/gpu-env.txt"

if [ "$PART" = train ]; then
  echo "== pretrain: loop vs bare step vs transformers"
  PRETRAIN_ARGS="--budget-s 330"
  [ -n "$TINY" ] && PRETRAIN_ARGS="--tiny --no-compile --warmup 2 --steps 4 --log-every 2 --budget-s 60"
  timeout 420 "$PY" benchmarks/gpu/pretrain_gpu.py $PRETRAIN_ARGS --results "$RESULTS/pretrain-gpu.json" 2>&1 | tee "$RESULTS/pretrain-gpu.log"
  echo "pretrain rc=${PIPESTATUS[0]}"

  echo "== sft: LoRA vs PEFT + TRL"
  SFT_ARGS="--device cuda"
  [ -n "$TINY" ] && SFT_ARGS="--tiny --warmup 2 --steps 4 --log-every 2"
  timeout 160 "$PY" benchmarks/sft.py $SFT_ARGS --results "$RESULTS/sft-gpu.json" 2>&1 | tee "$RESULTS/sft-gpu.log"
  echo "sft rc=${PIPESTATUS[0]}"
fi

if [ "$PART" = eval ]; then
  echo "== eval: jaforge vs lm-eval's HF backend"
  EVAL_ARGS="--device cuda --rounds 1"
  [ -n "$TINY" ] && EVAL_ARGS="--quick --limit 2 --device cpu --tasks jnli,jsquad --windows fitting"
  timeout 540 "$PY" benchmarks/eval.py $EVAL_ARGS --results "$RESULTS/eval-cuda.json" 2>&1 | tee "$RESULTS/eval-cuda.log"
  echo "eval rc=${PIPESTATUS[0]}"
fi

if [ -n "${OUT:-}" ] && [ "$OUT" != "$RESULTS" ]; then
  cp "$RESULTS"/*-gpu.json "$RESULTS"/eval-cuda.json "$RESULTS"/*.log "$RESULTS"/gpu-env.txt "$OUT"/ 2>/dev/null || true
fi
