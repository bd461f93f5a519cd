"""``async def`` tests run as in tests/asyncio: a fresh loop each, bounded in time."""

from tests.asyncio.conftest import pytest_pyfunc_call

__all__ = ["pytest_pyfunc_call"]
