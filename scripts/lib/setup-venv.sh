# Sourced by the scripts in scripts/: create .venv and install wskit with the
# extras named in WSKIT_EXTRAS (default: test and bench, since the benchmark
# peers are type-checked and smoke-tested too; scripts/demo needs none).
# Idempotent; on Debian it installs python3-venv if needed.
if ! python3 -c "import ensurepip, venv" 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# shellcheck disable=SC1091
source .venv/bin/activate
extras="${WSKIT_EXTRAS-test,bench}"
python -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}"
