#!/usr/bin/env bash
# The CUDA checks of attnbench in one run, under 8 minutes: the CUDA latency path (eager, torch.compile, and ONNX
# Runtime's CUDA execution provider when onnxruntime-gpu is installed) for none/se/cbam/ca in MobileNetV2 and
# MobileNeXt at 224 px, batch 1, then the GPU tests. Every figure goes to one CSV:
#   ${OUT:-results}/device-check-<UTC time>.csv   (the rows of `attnbench sweep --csv`)
# Without CUDA it checks nothing: one line saying so, exit 0.
# Exit status: 0 when every step passed, else the first failing step's status.
set -uo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python}
if ! "$py" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1; then
  echo "device_check: no CUDA device (torch.cuda.is_available() is False); nothing checked."
  exit 0
fi
out_dir=${OUT:-results}
mkdir -p "$out_dir"
csv="$out_dir/device-check-$(date -u +%Y%m%dT%H%M%SZ).csv"
runtimes=eager,compile
if "$py" -c "import sys, onnxruntime as o; sys.exit(0 if 'CUDAExecutionProvider' in o.get_available_providers() else 1)" >/dev/null 2>&1; then
  runtimes=$runtimes,onnxruntime-cuda
else
  echo "device_check: onnxruntime-gpu is not installed; ONNX Runtime's CUDA execution provider is not measured."
fi
status=0
echo "device_check: latency on cuda ($runtimes) -> $csv"
timeout 330 "$py" -m attnbench sweep --modules se,cbam,ca --backbones mbv2,mnext --device cuda --runtime "$runtimes" \
  --repeats 20 --max-time 15 --csv "$csv" --quiet --format csv >/dev/null
rc=$?; [ "$rc" -ne 0 ] && { echo "device_check: latency sweep failed (exit $rc)"; status=$rc; }
echo "device_check: GPU tests"
timeout 120 "$py" -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py tests/test_runtimes.py
rc=$?; [ "$rc" -ne 0 ] && [ "$status" -eq 0 ] && { echo "device_check: GPU tests failed (exit $rc)"; status=$rc; }
echo "device_check: done, figures in $csv (exit $status)"
exit "$status"
