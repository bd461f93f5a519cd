"""The asyncio implementation: :mod:`wskit.asyncio.server` and :mod:`wskit.asyncio.client`."""
