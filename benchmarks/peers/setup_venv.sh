#!/usr/bin/env bash
# Creates the virtual environment of one peer system under benchmarks/.venvs/,
# apart from this repository's environment, so their pins cannot clash:
#   bash benchmarks/peers/setup_venv.sh fedjax   # FedJAX 0.0.17 on jax 0.4.30
#   bash benchmarks/peers/setup_venv.sh flower   # Flower simulation + torch CPU
#   bash benchmarks/peers/setup_venv.sh pfl      # Apple's pfl-research + torch CPU
# Extra pip arguments for torch (e.g. a CPU wheel index where PyPI's default
# torch is a CUDA build) go in $TORCH_PIP_ARGS.
set -euo pipefail
peer="${1:?usage: setup_venv.sh fedjax|flower|pfl}"
here="$(cd "$(dirname "$0")" && pwd)"
requirements="$here/requirements-$peer.txt"
[[ -f "$requirements" ]] || { echo "setup_venv.sh: unknown peer '$peer' (expected fedjax, flower or pfl)" >&2; exit 2; }
venv="$here/../.venvs/$peer"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
if grep -q '^torch==' "$requirements"; then
  # torch first, alone, so the pinned CPU build is the one resolved.
  "$venv/bin/pip" install -q ${TORCH_PIP_ARGS:-} "$(grep '^torch==' "$requirements")"
fi
"$venv/bin/pip" install -q -r "$requirements"
"$venv/bin/python" -c "import sys; print('ready:', sys.prefix)"
