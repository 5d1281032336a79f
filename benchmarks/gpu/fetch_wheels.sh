#!/usr/bin/env bash
# Fetch, on a machine where pip reaches the package index, the wheels benchmarks/gpu/run.sh installs on
# the GPU machine (Python 3.12 there): into .gpu-whl/, which git ignores and the run carries.
set -eu
cd "$(dirname "$0")/../.."
EXCLUDE=$(git rev-parse --git-path info/exclude)
grep -qx '/.gpu-whl/' "$EXCLUDE" 2>/dev/null || echo '/.gpu-whl/' >> "$EXCLUDE"
${PYTHON:-python3} -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .gpu-whl -r benchmarks/gpu/wheels.txt
ls -la .gpu-whl
