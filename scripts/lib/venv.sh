# Sourced by the scripts in scripts/: functions to find a CPython and to keep
# a virtualenv with wskit installed in it (both idempotent).

# find_python X.Y: print the path of a CPython X.Y (not a free-threaded
# build): pyenv's newest X.Y.z first, then pythonX.Y on PATH. Fails, saying
# where it looked, when there is none.
find_python() {
    local version="$1" root candidate
    local candidates=()
    if command -v pyenv >/dev/null 2>&1; then
        root="$(pyenv root)"
    else
        root="${PYENV_ROOT:-$HOME/.pyenv}"
    fi
    # Newest patch release first; "3.12.[0-9]*" leaves out 3.12-dev and the like.
    while IFS= read -r candidate; do
        candidates+=("$candidate/bin/python$version")
    done < <(find "$root/versions" -mindepth 1 -maxdepth 1 -name "$version.[0-9]*" 2>/dev/null \
        | sort -rV)
    # A pyenv shim on PATH runs only where pyenv selects that version: the
    # check below runs each candidate, so a shim that can't is skipped.
    candidate="$(command -v "python$version" || true)"
    if [ -n "$candidate" ]; then
        candidates+=("$candidate")
    fi
    for candidate in "${candidates[@]}"; do
        if [ -x "$candidate" ] && "$candidate" -c "
import sys, sysconfig
wanted = tuple(int(part) for part in '$version'.split('.'))
ok = sys.implementation.name == 'cpython' and sys.version_info[:2] == wanted
sys.exit(0 if ok and not sysconfig.get_config_var('Py_GIL_DISABLED') else 1)
" 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    cat >&2 <<MSG
error: CPython $version not found: looked for $root/versions/$version.*/bin/python$version
(pyenv) and for python$version on PATH. Install it with "pyenv install $version"
(see "pyenv versions"), or skip it: WSKIT_TEST_PYTHONS lists the versions to test.
MSG
    return 1
}

# ensure_venv DIR PYTHON EXTRAS: create the virtualenv DIR with PYTHON unless
# it is there and works (a venv whose interpreter was removed, e.g. by a pyenv
# upgrade, is made anew), then install wskit into it, editable, with EXTRAS
# (comma-separated, may be empty). Installing builds the C accelerator.
ensure_venv() {
    local venv="$1" python="$2" extras="$3"
    if [ -e "$venv" ] && ! "$venv/bin/python" -c "" 2>/dev/null; then
        echo "== $venv is broken: making it anew"
        rm -rf "$venv"
    fi
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}"
}
