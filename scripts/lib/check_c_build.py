"""Check the C accelerator for the Python running this script.

1. Compile every source of the extension (``wskit/_speedups*.c``, as
   setup.py does) with the flags this Python builds extensions with, plus
   ``-Wall -Wextra -Werror``: a warning fails the check. CPython's
   own headers are included as system headers, so that their warnings, which
   aren't ours to fix, don't count.
2. Import ``wskit._speedups``: the extension is optional in setup.py, so an
   install whose build failed falls back to pure Python without a word, and
   the tests "with C" would run without it.
"""

import importlib
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

SOURCES = sorted((Path(__file__).resolve().parents[2] / "wskit").glob("_speedups*.c"))
WARNINGS = ["-Wall", "-Wextra", "-Werror"]


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def main() -> int:
    def config(name: str) -> list[str]:
        return shlex.split(sysconfig.get_config_var(name) or "")

    version = ".".join(map(str, sys.version_info[:3]))
    with tempfile.TemporaryDirectory() as directory:
        for source in SOURCES:
            command = [
                *config("CC"),
                *config("CFLAGS"),
                *config("CCSHARED"),
                "-isystem",
                sysconfig.get_paths()["include"],
                *WARNINGS,
                "-c",
                str(source),
                "-o",
                str(Path(directory) / f"{source.stem}.o"),
            ]
            try:
                compiled = subprocess.run(command, check=False)
            except FileNotFoundError:
                return fail(f"no C compiler ({command[0]}) to build wskit/{source.name}")
            if compiled.returncode:
                shown = " ".join(shlex.quote(part) for part in command)
                return fail(
                    f"wskit/{source.name} doesn't compile cleanly on Python {version}:\n{shown}"
                )
    try:
        importlib.import_module("wskit._speedups")
    except ImportError as exc:
        return fail(f"the C accelerator isn't installed for Python {version}: {exc}")
    flags = " ".join(WARNINGS)
    print(f"C accelerator: {len(SOURCES)} files compile without warnings ({flags}), installed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
