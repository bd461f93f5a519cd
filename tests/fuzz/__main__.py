"""Long fuzzing campaigns: ``python -m tests.fuzz {server,client} [--seconds N]``.

With atheris installed (``pip install atheris``, or ``scripts/fuzz`` which
does it), the campaign is coverage-guided: libFuzzer mutates the inputs that
reach new code in wskit. Without it, or with ``--engine random``, inputs are
random bytes. Either way each input goes through
:func:`tests.fuzz.harness.check`, the checker of the test suite.

A failing input is saved in ``--crashes`` (``fuzz-crashes/`` by default) and
stops the campaign, unless ``--keep-going`` is given: then each distinct
failure is saved once and the campaign goes on. ``--replay FILE...`` runs
saved inputs (or the scenarios saved beside them, ``FILE.json``) again and
shows what fails.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from .inputs import Scenario, scenario

_MAX_INPUT = 4096  # bytes: the generator reads a few hundred at most


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fuzz", description=__doc__.split("\n")[0]
    )
    parser.add_argument("side", choices=["server", "client"], help="the protocol to fuzz")
    parser.add_argument("--seconds", type=int, default=60, help="how long to run (default 60)")
    parser.add_argument("--engine", choices=["auto", "atheris", "random"], default="auto")
    parser.add_argument("--seed", type=int, help="seed of the random engine")
    parser.add_argument(
        "--corpus", type=Path, help="atheris: directory of inputs to start from and grow"
    )
    parser.add_argument("--crashes", type=Path, default=Path("fuzz-crashes"))
    parser.add_argument("--keep-going", action="store_true", help="save failures and go on")
    parser.add_argument("--replay", type=Path, nargs="+", metavar="FILE", help="run saved inputs")
    args = parser.parse_args(argv)

    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: PLC0415
        except ImportError:
            engine = "random"
        else:
            engine = "atheris"
    if args.replay:
        engine = "random"
    if engine == "atheris":
        import atheris  # noqa: PLC0415

        # Coverage of wskit guides the mutations: instrument it as it is imported.
        with atheris.instrument_imports(include=["wskit"]):
            from . import harness  # noqa: PLC0415
    else:
        from . import harness  # noqa: PLC0415

    def check(data: bytes) -> None:
        harness.check(data, args.side)

    def replay(path: Path) -> None:
        if path.suffix == ".json":
            harness.check_scenario(Scenario.from_json(path.read_text()))
        else:
            check(path.read_bytes())

    if args.replay:
        return _replay(replay, args.replay)
    failures = _Failures(args.crashes, args.side, keep_going=args.keep_going)
    if engine == "atheris":
        _run_atheris(check, failures, args)
        return 0  # not reached: libFuzzer exits the process
    return _run_random(check, failures, args)


class _Failures:
    """Saves failing inputs, each distinct failure once."""

    def __init__(self, directory: Path, side: str, *, keep_going: bool) -> None:
        self.directory = directory
        self.side = side
        self.keep_going = keep_going
        self.seen: set[str] = set()

    def record(self, data: bytes, exc: BaseException) -> None:
        # Failures that differ only in bytes and numbers are the same one.
        # The first clause of the message, without the variant it ran on.
        message = re.sub(r"^\[.*?\] ", "", str(exc)).split(":")[0]
        signature = f"{type(exc).__name__}: " + re.sub(r"b'.*|b\".*|\d+", "_", message)
        if signature in self.seen:
            return
        self.seen.add(signature)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{self.side}-{hashlib.sha1(data).hexdigest()[:12]}"
        path.write_bytes(data)
        # The scenario too: it replays even after the generator changes.
        path.with_suffix(".json").write_text(scenario(data, self.side).to_json())
        print(
            f"\nFAILURE {signature[:300]}\n  input saved in {path}[.json]",
            file=sys.stderr,
            flush=True,
        )
        if not self.keep_going:
            traceback.print_exception(exc)


def _run_atheris(
    check: Callable[[bytes], None], failures: _Failures, args: argparse.Namespace
) -> None:
    import atheris  # noqa: PLC0415

    def one_input(data: bytes) -> None:
        try:
            check(data)
        except Exception as exc:
            failures.record(data, exc)
            if not failures.keep_going:
                raise

    libfuzzer_args = [
        sys.argv[0],
        f"-max_total_time={args.seconds}",
        f"-max_len={_MAX_INPUT}",
        "-timeout=60",
        "-print_final_stats=1",
        f"-artifact_prefix={args.crashes}/{args.side}-",
    ]
    if args.corpus is not None:
        if not args.corpus.is_dir():
            # Start from inputs long enough to describe a few frames each.
            args.corpus.mkdir(parents=True)
            rng = random.Random(0)
            for index in range(64):
                seed = rng.randbytes(rng.randrange(64, _MAX_INPUT // 4))
                (args.corpus / f"seed-{index}").write_bytes(seed)
        libfuzzer_args.append(str(args.corpus))
    args.crashes.mkdir(parents=True, exist_ok=True)
    atheris.Setup(libfuzzer_args, one_input)
    atheris.Fuzz()


def _run_random(
    check: Callable[[bytes], None], failures: _Failures, args: argparse.Namespace
) -> int:
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    print(f"random engine, seed {seed}, {args.seconds} s", flush=True)
    start = last_report = time.monotonic()
    executed = 0
    while (now := time.monotonic()) - start < args.seconds:
        data = rng.randbytes(rng.randrange(_MAX_INPUT // 4))
        executed += 1
        try:
            check(data)
        except Exception as exc:
            failures.record(data, exc)
            if not failures.keep_going:
                print(f"failed after {executed} inputs", flush=True)
                return 1
        if now - last_report >= 60:
            last_report = now
            print(f"{executed} inputs, {len(failures.seen)} failures", flush=True)
    elapsed = time.monotonic() - start
    print(f"done: {executed} inputs in {elapsed:.0f} s, {len(failures.seen)} distinct failures")
    return 1 if failures.seen else 0


def _replay(replay: Callable[[Path], None], paths: list[Path]) -> int:
    failed = 0
    for path in paths:
        try:
            replay(path)
        except Exception:
            failed += 1
            print(f"{path}: FAILS", flush=True)
            traceback.print_exc()
        else:
            print(f"{path}: passes", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
