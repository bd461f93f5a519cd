"""Build the optional C accelerator; wskit works without it (pure-Python fallback)."""

import os

from setuptools import Extension, setup

# WSKIT_NO_SPEEDUPS=1 at build time skips the extension entirely (pure-Python install).
ext_modules = (
    []
    if os.environ.get("WSKIT_NO_SPEEDUPS")
    else [Extension("wskit._speedups", sources=["wskit/_speedups.c"], optional=True)]
)

setup(ext_modules=ext_modules)
