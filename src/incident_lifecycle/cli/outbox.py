"""The outbox's commands: ``deliver`` (drain once), ``relay`` (keep draining), ``prune``."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TextIO

from ..worker import RelayWorker
from .stores import open_desk, outbox_path

__all__ = ["add_outbox_commands", "cmd_deliver", "cmd_prune", "cmd_relay"]

EXIT_OK = 0
DEFAULT_RETENTION_DAYS = 7.0
"""How long ``prune`` and the relay's scheduled pruning keep delivered notifications."""


def _dump(value: object, out: TextIO) -> None:
    out.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


def _days(text: str) -> timedelta:
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a number of days") from None
    if not 0 <= days <= 36_500:
        raise argparse.ArgumentTypeError("0 to 36500 days")
    return timedelta(days=days)


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a number of seconds") from None
    if not 0 < seconds <= 86_400:
        raise argparse.ArgumentTypeError("above 0, at most 86400 seconds")
    return seconds


def cmd_deliver(args: argparse.Namespace, out: TextIO) -> int:
    """Drain the outbox to a JSON Lines file."""
    args.outbox = args.to
    desk = open_desk(args)
    report = desk.deliver(batch_size=args.batch_size)
    to = args.to or outbox_path(args.db)
    if args.json:
        _dump(
            {
                "batches": report.batches,
                "attempted": report.attempted,
                "delivered": report.delivered,
                "retried": report.retried,
                "dead_lettered": report.dead_lettered,
                "pending": report.pending,
                "next_due_at": report.next_due_at.isoformat() if report.next_due_at else None,
                "to": str(to),
            },
            out,
        )
        return EXIT_OK
    out.write(
        f"delivered {report.delivered} notification(s) in {report.batches} batch(es) to "
        f"{to}; {report.retried} to retry, "
        f"{report.dead_lettered} dead-lettered, {report.pending} pending\n"
    )
    return EXIT_OK


def cmd_relay(args: argparse.Namespace, out: TextIO) -> int:
    """Deliver the outbox as it fills until SIGTERM or SIGINT (then finish the batch, exit 0)."""
    logging.basicConfig(
        stream=sys.stderr, level=args.log_level, format="%(asctime)s %(levelname)s %(message)s"
    )
    args.outbox = args.to
    desk = open_desk(args)
    worker = RelayWorker(
        desk,
        batch_size=args.batch_size,
        idle_seconds=args.idle_seconds,
        prune_after=args.prune_after,
        prune_every_seconds=args.prune_every,
    )

    def stop(_signum: int, _frame: Any) -> None:
        worker.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        totals = worker.run(max_rounds=args.max_rounds)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    out.write(
        f"relay stopped: delivered {totals.delivered} notification(s) in {totals.batches} "
        f"batch(es); {totals.retried} to retry, {totals.dead_lettered} dead-lettered, "
        f"{totals.pruned} pruned\n"
    )
    return EXIT_OK


def cmd_prune(args: argparse.Namespace, out: TextIO) -> int:
    """Delete delivered notifications older than ``--older-than`` days."""
    desk = open_desk(args)
    pruned = desk.prune_delivered(args.older_than)
    if args.json:
        _dump({"pruned": pruned, "older_than_seconds": args.older_than.total_seconds()}, out)
    else:
        out.write(f"pruned {pruned} delivered notification(s)\n")
    return EXIT_OK


def add_outbox_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Register ``deliver``, ``relay`` and ``prune`` (``add(name, handler, help)``)."""
    deliver = add("deliver", cmd_deliver, "drain the outbox to a JSON Lines file")
    deliver.add_argument("--to", help="the JSON Lines file (default: <db>-outbox.jsonl)")
    deliver.add_argument("--batch-size", type=int, default=100)
    deliver.add_argument("--json", action="store_true", help="machine-readable output")
    relay = add("relay", cmd_relay, "deliver the outbox continuously until SIGTERM")
    relay.add_argument("--to", help="the JSON Lines file (default: <db>-outbox.jsonl)")
    relay.add_argument("--batch-size", type=int, default=100)
    relay.add_argument(
        "--idle-seconds",
        type=_seconds,
        default=5.0,
        help="the longest wait when nothing is due (PostgreSQL wakes on enqueue)",
    )
    relay.add_argument(
        "--prune-after",
        type=_days,
        default=None,
        metavar="DAYS",
        help="also prune notifications delivered over DAYS ago (default: never)",
    )
    relay.add_argument("--prune-every", type=_seconds, default=3600.0, metavar="SECONDS")
    relay.add_argument("--max-rounds", type=int, default=None, help=argparse.SUPPRESS)
    relay.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    prune = add("prune", cmd_prune, "delete delivered notifications older than --older-than")
    prune.add_argument(
        "--older-than",
        type=_days,
        default=timedelta(days=DEFAULT_RETENTION_DAYS),
        metavar="DAYS",
        help=f"days (default {DEFAULT_RETENTION_DAYS:g}; at least the retry horizon)",
    )
    prune.add_argument("--json", action="store_true", help="machine-readable output")
