"""Micro-benchmark of the hot path: masking, UTF-8 validation, frame parse/serialize.

Run it from the repository root::

    .venv/bin/python -m benchmarks.micro

It measures the implementation this process uses (the C accelerator unless
``WSKIT_NO_SPEEDUPS`` is set), then runs itself again in a subprocess with
``WSKIT_NO_SPEEDUPS=1`` to measure the pure-Python fallback the same way, and
prints both side by side. :mod:`wskit.frames` binds its implementation when
it is imported, hence the second process.

Every figure is the median over several runs of the time per operation;
throughput is payload bytes per second (1 MB = 10**6 bytes).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

__all__ = ["Result", "main", "make_benchmarks", "measure", "run_suite"]

SIZES = (64, 1024, 16 * 1024, 256 * 1024, 1024 * 1024)

# A mix of 2-, 3- and 4-byte characters with some ASCII, like real text.
MULTIBYTE_SAMPLE = "Grüße Καλημέρα Здравствуйте こんにちは 你好 😀🎉 ".encode()


@dataclasses.dataclass
class Result:
    """One measurement.

    Attributes:
        name: What was measured.
        size: Payload size in bytes.
        seconds: Median time per operation.
    """

    name: str
    size: int
    seconds: float

    @property
    def mb_per_s(self) -> float:
        """Payload throughput in MB/s (10**6 bytes per second)."""
        return self.size / self.seconds / 1e6

    @property
    def ns_per_op(self) -> float:
        """Time per operation in nanoseconds."""
        return self.seconds * 1e9


def measure(operation: Callable[[], object], repeat: int, target: float) -> float:
    """Time ``operation``; return the median seconds per call.

    Args:
        operation: The code to time, called with no arguments.
        repeat: How many timed runs to take the median of.
        target: Roughly how long each run lasts, in seconds.
    """
    # Calibrate: find a loop count that lasts about `target` seconds, so that
    # the timer's resolution and the loop overhead stay negligible.
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            operation()
        elapsed = time.perf_counter() - start
        if elapsed >= target / 4:
            break
        loops *= 2 if elapsed == 0 else max(2, min(100, int(target / 2 / elapsed)))
    loops = max(1, int(loops * target / elapsed))
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(loops):
            operation()
        timings.append((time.perf_counter() - start) / loops)
    return statistics.median(timings)


def ascii_text(size: int) -> bytes:
    """ASCII text of exactly ``size`` bytes."""
    line = b"The quick brown fox jumps over the lazy dog. 0123456789\n"
    return (line * (size // len(line) + 1))[:size]


def multibyte_text(size: int) -> bytes:
    """Valid UTF-8 of exactly ``size`` bytes, mostly multi-byte characters."""
    data = (MULTIBYTE_SAMPLE * (size // len(MULTIBYTE_SAMPLE) + 1))[:size]
    # Cut at a character boundary, then pad with spaces to the exact size.
    end = size
    while end > 0 and 0x80 <= data[end - 1] < 0xC0:
        end -= 1
    if end > 0 and data[end - 1] >= 0xC0:
        end -= 1
    return data[:end] + b" " * (size - end)


def make_benchmarks(size: int) -> list[tuple[str, Callable[[], object]]]:
    """Build the operations to time for one payload size.

    Uses the implementation this process selected (through :mod:`wskit.speedups`).

    Args:
        size: Payload size in bytes.
    """
    # Imported here so that the environment decides the implementation.
    from wskit.frames import BINARY, Frame, parse_header  # noqa: PLC0415
    from wskit.speedups import UTF8Validator, apply_mask  # noqa: PLC0415

    key = b"\x37\xfa\x21\x3d"
    payload = os.urandom(size)
    ascii_data = ascii_text(size)
    multibyte_data = multibyte_text(size)
    masked_frame = Frame(BINARY, payload).serialize(mask=True)
    validator = UTF8Validator()

    def mask() -> bytes:
        return apply_mask(payload, key)

    def utf8_ascii() -> bool:
        validator.feed(ascii_data)
        return validator.finish()

    def utf8_multibyte() -> bool:
        validator.feed(multibyte_data)
        return validator.finish()

    def parse_masked() -> bytes:
        # What a server does with a client frame: header, then unmask.
        header = parse_header(masked_frame)
        if header is None:
            raise RuntimeError("benchmark frame did not parse")
        _, length, offset, mask_key = header
        if mask_key is None:
            raise RuntimeError("benchmark frame is not masked")
        return apply_mask(memoryview(masked_frame)[offset : offset + length], mask_key)

    def serialize_masked() -> bytes:
        return Frame(BINARY, payload).serialize(mask=True)

    def serialize_unmasked() -> bytes:
        return Frame(BINARY, payload).serialize(mask=False)

    if not (utf8_ascii() and utf8_multibyte()):
        raise RuntimeError("benchmark text is not valid UTF-8")
    if parse_masked() != payload:
        raise RuntimeError("benchmark frame did not round-trip")
    return [
        ("apply_mask", mask),
        ("utf8 ascii", utf8_ascii),
        ("utf8 multi-byte", utf8_multibyte),
        ("parse + unmask", parse_masked),
        ("serialize mask=True", serialize_masked),
        ("serialize mask=False", serialize_unmasked),
    ]


def run_suite(sizes: Sequence[int], repeat: int, target: float) -> list[Result]:
    """Measure every benchmark with the implementation this process selected.

    Args:
        sizes: Payload sizes in bytes.
        repeat: Timed runs per measurement.
        target: Approximate duration of one run, in seconds.
    """
    return [
        Result(name, size, measure(operation, repeat, target))
        for size in sizes
        for name, operation in make_benchmarks(size)
    ]


def format_size(size: int) -> str:
    """Format a byte count as B, KiB or MiB."""
    if size >= 1024 * 1024:
        return f"{size // (1024 * 1024)} MiB"
    if size >= 1024:
        return f"{size // 1024} KiB"
    return f"{size} B"


def format_table(columns: dict[str, list[Result]]) -> str:
    """Lay out results side by side: one row per benchmark and size.

    Args:
        columns: Results per implementation label, in the same order.
    """
    labels = list(columns)
    header = f"{'benchmark':<22} {'size':>8}"
    for label in labels:
        header += f" {label + ' MB/s':>12} {label + ' ns/op':>13}"
    if len(labels) == 2:
        header += f" {labels[0] + '/' + labels[1]:>8}"
    lines = [header, "-" * len(header)]
    by_key = {
        label: {(result.name, result.size): result for result in results}
        for label, results in columns.items()
    }
    first = columns[labels[0]]
    names = list(dict.fromkeys(result.name for result in first))
    sizes = list(dict.fromkeys(result.size for result in first))
    for name in names:
        for size in sizes:
            line = f"{name:<22} {format_size(size):>8}"
            row = [by_key[label][name, size] for label in labels]
            for result in row:
                line += f" {result.mb_per_s:>12,.0f} {result.ns_per_op:>13,.0f}"
            if len(row) == 2:
                line += f" {row[1].seconds / row[0].seconds:>7.1f}x"
            lines.append(line)
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def run_fallback(sizes: Sequence[int], repeat: int, target: float) -> list[Result]:
    """Run the suite in a subprocess with ``WSKIT_NO_SPEEDUPS=1``."""
    command = [sys.executable, "-m", "benchmarks.micro", "--json"]
    command += ["--repeat", str(repeat), "--target", str(target)]
    command += ["--sizes", *map(str, sizes)]
    environment = {**os.environ, "WSKIT_NO_SPEEDUPS": "1"}
    output = subprocess.run(
        command, env=environment, check=True, capture_output=True, text=True
    ).stdout
    return [Result(**item) for item in json.loads(output)]


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmarks and print a table (or JSON with ``--json``).

    Args:
        argv: Command-line arguments, ``sys.argv[1:]`` by default.
    """
    parser = argparse.ArgumentParser(prog="python -m benchmarks.micro", description=__doc__)
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per measurement")
    parser.add_argument("--target", type=float, default=0.05, help="seconds per timed run")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="payload sizes")
    parser.add_argument("--json", action="store_true", help="print this process's results as JSON")
    args = parser.parse_args(argv)

    from wskit.speedups import IMPLEMENTATION  # noqa: PLC0415

    results = run_suite(args.sizes, args.repeat, args.target)
    if args.json:
        print(json.dumps([dataclasses.asdict(result) for result in results]))
        return
    columns = {"C" if IMPLEMENTATION == "c" else "Py": results}
    if IMPLEMENTATION == "c":
        columns["Py"] = run_fallback(args.sizes, args.repeat, args.target)
    print(
        f"wskit micro-benchmarks: Python {platform.python_version()} on {platform.machine()}, "
        f"median of {args.repeat} runs of ~{args.target * 1000:.0f} ms"
    )
    print()
    print(format_table(columns))


if __name__ == "__main__":
    main()
