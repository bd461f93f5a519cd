"""Build the optional C accelerator; wskit works without it (pure-Python fallback)."""

import os
from glob import glob

from setuptools import Extension, setup

# One extension, wskit._speedups, from every wskit/_speedups*.c (see _speedups.c).
SOURCES = sorted(glob("wskit/_speedups*.c"))

# WSKIT_NO_SPEEDUPS=1 at build time skips the extension entirely (pure-Python install).
ext_modules = (
    []
    if os.environ.get("WSKIT_NO_SPEEDUPS")
    else [
        Extension(
            "wskit._speedups",
            sources=SOURCES,
            depends=["wskit/_speedups.h"],
            optional=True,
        )
    ]
)

setup(ext_modules=ext_modules)
