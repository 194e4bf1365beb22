#!/usr/bin/env bash
# Bring your own model, end to end: train a conv autoencoder in your own loop, register it,
# encode a folder of PNGs, fit a direction, edit, judge, report. About a minute on 2 CPU cores.
#   bash examples/digits_autoencoder/run.sh
# Smaller or elsewhere: EPOCHS, N_IMAGES, JUDGE_EPOCHS, EVAL_ITEMS, OUT (default ./out), STORE.
set -euo pipefail
cd "$(dirname "$0")"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # so the factory conv_ae:build imports
OUT="${OUT:-$PWD/out}"
export LATENTOPS_STORE="${STORE:-$OUT/store}"

"${PYTHON:-python}" train.py --epochs "${EPOCHS:-30}" --n-images "${N_IMAGES:-1797}" --out "$OUT"
latentops models register --name digits-conv --factory conv_ae:build \
  --config "$OUT/conv_ae.json" --weights "$OUT/conv_ae.safetensors" --dataset digits
latentops encode --model digits-conv --dataset "$OUT/digits_png" --table digits_conv
latentops directions fit --table digits_conv --label class==0 --method logistic --name zero
latentops edit -t digits_conv -d zero --strengths -3:3:7 --sample 8
latentops judges train --dataset digits --epochs "${JUDGE_EPOCHS:-4}"
latentops evaluate -t digits_conv -d zero -j digits-judge --target digit==0 --strengths -3:3:7 \
  -n "${EVAL_ITEMS:-256}"
latentops report --model digits-conv --table digits_conv --color-by class
latentops sql "SELECT class, count(*) AS n, any_value(path) AS example FROM latents.digits_conv GROUP BY class ORDER BY class"
