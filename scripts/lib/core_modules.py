"""Print the Sans-I/O core's files as a comma-separated list for `coverage report --include`."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "wskit"
# Every module of the package except the I/O layers, the command line,
# wskit.testing and the metrics' HTTP endpoint.
IO_PACKAGES = {"asyncio", "sync", "cli", "pubsub", "testing"}
IO_MODULES = {"__main__.py", "metrics.py"}

core = sorted(
    str(path.relative_to(ROOT.parent))
    for path in ROOT.rglob("*.py")
    if path.relative_to(ROOT).parts[0] not in IO_PACKAGES and path.name not in IO_MODULES
)
print(",".join(core))
