#!/usr/bin/env bash
# The conformance tests (tests/compliance) run the Autobahn|Testsuite: install
# wstest, on CPython 2.7 from pyenv, into .venv-autobahn/ (idempotently).
set -euo pipefail
exec "$(dirname "$0")/../../compliance/setup.sh"
