"""Print the Sans-I/O core's files as a comma-separated list for `coverage report --include`."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "wskit"
# Every module of the package except the I/O layers (the legacy API and the
# uvicorn engine are on asyncio), the command line, wskit.testing and the
# metrics' HTTP endpoint.
IO_PACKAGES = {"asyncio", "sync", "trio", "cli", "legacy", "pubsub", "testing"}
IO_MODULES = {"__main__.py", "metrics.py", "uvicorn.py"}

core = sorted(
    str(path.relative_to(ROOT.parent))
    for path in ROOT.rglob("*.py")
    if path.relative_to(ROOT).parts[0] not in IO_PACKAGES and path.name not in IO_MODULES
)
print(",".join(core))
