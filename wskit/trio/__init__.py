"""The trio I/O layer: :mod:`.client`, :mod:`.server`, :mod:`.connection`."""
