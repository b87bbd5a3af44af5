"""``python -m bench [--quick] [--rounds N] [--only scoring|protocol|batching] [--out DIR]``: run, write results.

Loopback only; every server is started here on a free port and stopped at the end, on failure too. Every suite
runs --rounds times, one round after the other. Writes raw/<suite>-<run>-r<round>.json per run, and results.json,
results.md and PNG plots (each figure the median over the rounds) into DIR (default bench/results). With --only,
the other suites' raw records already in DIR are kept and the report covers all of them.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench import batching, loadgen, machine, protocol, report, scoring
from bench.harness import Context, Settings
from bench.procs import ROOT, ProcessGroup, short_error

SUITES = {"scoring": scoring.run, "protocol": protocol.run, "batching": batching.run}
OWNER = {"profile": "scoring"}  # records a suite writes under another name (unless they name their "owner")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sweeps and short runs (well under a minute)")
    parser.add_argument("--only", choices=sorted(SUITES), action="append",
                        help="run only this suite (repeatable); default: all")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="results folder")
    parser.add_argument("--rounds", type=_positive, help="times every suite runs (default 3, 1 with --quick); "
                        "the report gives medians")
    parser.add_argument("--duration", type=float, help="seconds measured per load run (after warm-up)")
    parser.add_argument("--clients", help="comma-separated client counts for the scoring sweep")
    parser.add_argument("--inferd-args", default="", metavar="ARGS",
                        help="extra options for every inferd started, e.g. '--intra-op-parallelism 1' "
                             "(default: none; the published figures use inferd's defaults)")
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=None,
                        help="sample inferd with py-spy and perf on one extra run per suite, after the last round: "
                             "scoring at 16 clients, -P 16 GET, the saturating load (default: on, off with --quick)")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings for the mode, with the command line's overrides."""
    settings = Settings.for_mode(args.quick)
    if args.rounds:
        settings.rounds = args.rounds
    if args.duration:
        settings.duration_s = args.duration
    if args.clients:
        settings.clients = tuple(int(c) for c in args.clients.split(","))
    if args.inferd_args:
        settings.inferd_args = tuple(shlex.split(args.inferd_args))
    if args.profile is not None:
        settings.profile = args.profile
    return settings


def kept_records(out: Path, rerun: set[str]) -> list[dict[str, Any]]:
    """Raw records of suites not being rerun (so --only refreshes one suite); the rerun ones are deleted."""
    kept = []
    for path in sorted((out / "raw").glob("*.json")):
        data = json.loads(path.read_text())
        owner = data.get("owner") or OWNER.get(data.get("suite"), data.get("suite"))
        if owner in rerun or owner not in SUITES:
            path.unlink()
        else:
            kept.append(data)
    return kept


def run_suites(ctx: Context, names: list[str]) -> list[str]:
    """Run each suite, round after round; a failing suite is recorded and the others still run. Returns the failures."""
    failures = []
    rounds = ctx.settings.rounds
    for round_index in range(rounds):
        ctx.round = round_index
        for name in names:
            started = time.monotonic()
            print(f"bench: {name}, round {round_index + 1} of {rounds} ...", file=sys.stderr, flush=True)
            try:
                SUITES[name](ctx)
            except Exception as exc:  # one broken suite must not lose the others' results
                traceback.print_exc()
                failures.append(f"{name}, round {round_index + 1}: {short_error(exc)}")
                ctx.record(name, "failure", {"system": "failure", "error": short_error(exc)})
            finally:
                ctx.procs.stop_all()
            print(f"bench: {name} done in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    return failures


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    names = args.only or list(SUITES)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    command = "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    settings = settings_from(args)
    info = machine.describe()
    loadgen.build()
    workdir = Path(tempfile.mkdtemp(prefix="inferd-bench-"))
    try:
        with ProcessGroup(workdir) as procs:
            ctx = Context(settings, out, workdir, procs, records=kept_records(out, set(names)))
            failures = run_suites(ctx, names)
        info["load_average_end"] = machine.load_average()
        report.write(out, ctx.records, info, command.strip(), dataclasses.asdict(settings))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print((out / "results.md").read_text())
    for failure in failures:
        print(f"bench: suite failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
