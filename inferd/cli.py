"""Command line: flags generated from the option table -> Config -> Server."""
from __future__ import annotations

import argparse
import logging
import sys

from inferd import __version__
from inferd import config as config_module

LOG_LEVELS = {"debug": logging.DEBUG, "verbose": logging.DEBUG, "notice": logging.INFO, "warning": logging.WARNING}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: ``--config FILE`` plus one flag per option of the table."""
    parser = argparse.ArgumentParser(prog="inferd", description="An inference server that speaks the Redis "
                                     "protocol. Options may also come from a TOML file (--config) or INFERD_* "
                                     "environment variables; flags win over both.")
    parser.add_argument("--version", action="version", version=f"inferd {__version__}")
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file")
    for option in config_module.OPTIONS:
        parser.add_argument(f"--{option.name}", dest=option.field, default=None, metavar=option.kind.__name__.upper(),
                            help=f"{option.help} (default: {option.default!r})")
    return parser


def configure_logging(level: str, logfile: str = "") -> None:
    """One line per event: time, level, logger, message."""
    handler: logging.Handler = logging.FileHandler(logfile) if logfile else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LOG_LEVELS.get(level, logging.INFO))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``inferd`` console script and ``python -m inferd``."""
    args = build_parser().parse_args(argv)
    overrides = {o.name: getattr(args, o.field) for o in config_module.OPTIONS if getattr(args, o.field) is not None}
    try:
        config = config_module.load(args.config, overrides=overrides)
    except (config_module.ConfigError, OSError, ValueError) as exc:
        print(f"inferd: {exc}", file=sys.stderr)
        return 2
    try:
        configure_logging(config.loglevel, config.logfile)
    except OSError as exc:
        print(f"inferd: cannot open the log file: {exc}", file=sys.stderr)
        return 2
    from inferd.server import run
    try:
        return run(config, args.config or "")
    except OSError as exc:
        logging.getLogger("inferd").error("cannot start: %s", exc)
        return 1
