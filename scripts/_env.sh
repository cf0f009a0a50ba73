# Sourced by the scripts: make sure uv exists (installed with pip when missing) and the locked environment
# is in place. Nothing else is assumed on the machine but Python 3.11 and pip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check uv || python3 -m pip install --quiet --user uv
  export PATH="$HOME/.local/bin:$PATH"
fi
export UV_PYTHON="${UV_PYTHON:-python3.11}"
# Let Python cache bytecode: some images set PYTHONDONTWRITEBYTECODE, which makes every process (each test
# server and CLI subprocess) compile every module again — about 2 s per start on these machines.
unset PYTHONDONTWRITEBYTECODE
uv sync --frozen --quiet
