#!/usr/bin/env bash
# Install wstest, the Autobahn|Testsuite, into .venv-autobahn/ (idempotent).
#
# wstest runs on CPython 2.7 only. The interpreter comes from pyenv (version
# 2.7.18; set WSKIT_PYTHON27 to use another one); everything else comes from
# PyPI: virtualenv 20.21.1 (the last release that creates 2.7 environments,
# installed in a throwaway Python 3 venv) and the packages pinned in
# compliance/requirements-wstest.txt.
#
#   .venv-autobahn/bootstrap   Python 3 venv holding virtualenv
#   .venv-autobahn/py27        Python 2.7 venv holding wstest
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-autobahn"
requirements="$root/compliance/requirements-wstest.txt"
installed="$venv/py27/requirements-wstest.txt"  # what the last install used

if [ -x "$venv/py27/bin/python" ] && cmp -s "$requirements" "$installed" \
    && PYTHONWARNINGS=ignore "$venv/py27/bin/python" -c "import autobahntestsuite" 2>/dev/null; then
    exit 0
fi

find_python27() {
    if [ -n "${WSKIT_PYTHON27:-}" ]; then
        echo "$WSKIT_PYTHON27"
        return
    fi
    local prefix=""
    if command -v pyenv >/dev/null 2>&1; then
        prefix="$(pyenv prefix 2.7.18 2>/dev/null || true)"
        if [ -z "$prefix" ]; then
            prefix="$(pyenv root)/versions/2.7.18"
        fi
    else
        prefix="/root/.pyenv/versions/2.7.18"
    fi
    echo "$prefix/bin/python2.7"
}

python27="$(find_python27)"
if ! [ -x "$python27" ] || ! "$python27" -c 'import sys; assert sys.version_info[:2] == (2, 7)' 2>/dev/null; then
    cat >&2 <<MSG
compliance/setup.sh: wstest needs CPython 2.7, not found at $python27.
Install it with "pyenv install 2.7.18" (see "pyenv versions"), or point
WSKIT_PYTHON27 at a python2.7 executable.
MSG
    exit 1
fi
if ! command -v cc >/dev/null 2>&1; then
    # wsaccel (autobahn[accelerate]) builds from source.
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
fi

echo "compliance/setup.sh: installing wstest into $venv (Python 2.7: $python27)"
mkdir -p "$venv"
if ! [ -x "$venv/bootstrap/bin/virtualenv" ]; then
    python3 -m venv "$venv/bootstrap"
    "$venv/bootstrap/bin/python" -m pip install -q --disable-pip-version-check "virtualenv==20.21.1"
fi
# virtualenv seeds pip 20.3.4, setuptools 44.1.1 and wheel 0.37.1 from the
# wheels it bundles (no download); its cache stays inside the venv.
export VIRTUALENV_OVERRIDE_APP_DATA="$venv/bootstrap/app-data"
rm -rf "$venv/py27"
"$venv/bootstrap/bin/virtualenv" -q --no-download -p "$python27" "$venv/py27"
PYTHONWARNINGS=ignore "$venv/py27/bin/python" -m pip install -q --disable-pip-version-check \
    --no-python-version-warning -r "$requirements"
cp "$requirements" "$installed"
PYTHONWARNINGS=ignore "$venv/py27/bin/wstest" --autobahnversion
