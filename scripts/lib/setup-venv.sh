# Sourced by the scripts in scripts/: create .venv and install wskit with its
# test and benchmark dependencies (the benchmark peers are type-checked and
# smoke-tested too). Idempotent; on Debian it installs python3-venv if needed.
if ! python3 -c "import ensurepip, venv" 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# shellcheck disable=SC1091
source .venv/bin/activate
python -m pip install -q --disable-pip-version-check -e ".[test,bench]"
