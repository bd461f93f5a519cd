# Sourced by the scripts in scripts/: create .venv and install wskit with the
# extras named in WSKIT_EXTRAS (default: test and bench, since the benchmark
# peers are type-checked and smoke-tested too; scripts/demo needs none).
# Idempotent; on Debian it installs python3-venv if needed.
if ! python3 -c "import ensurepip, venv" 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv
fi
# shellcheck source=scripts/lib/venv.sh
source scripts/lib/venv.sh
ensure_venv .venv python3 "${WSKIT_EXTRAS-test,bench}"
# shellcheck disable=SC1091
source .venv/bin/activate
