#!/usr/bin/env bash
# Create .venv-bench at the repository root with the pinned peer frameworks
# (LangGraph with its SQLite and PostgreSQL checkpointers, LlamaIndex Workflows,
# psycopg for rxflow's PostgreSQL storage) and an editable install of rxflow, so
# that benchmarks/run.py and benchmarks/durability.py can compare them in one run.
# The project's own environment is left untouched: the peers go into this venv only.
#
# Usage:  bash benchmarks/setup_peers.sh        (PYTHON=python3.12 to pick another interpreter)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
python="${PYTHON:-python3}"
venv="$root/.venv-bench"

"$python" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"rxflow needs Python 3.11+, this is {sys.version.split()[0]}")
PY

if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv"
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$here/requirements-peers.txt"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root"

echo "ready: $venv/bin/python benchmarks/run.py --quick"
echo "       $venv/bin/python benchmarks/durability.py --quick"
