"""The threading implementation: :mod:`wskit.sync.server` and :mod:`wskit.sync.client`."""
