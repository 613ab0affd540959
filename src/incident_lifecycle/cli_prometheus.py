"""``incident-lifecycle metrics --format prometheus``: the store's figures as Prometheus text.

For a textfile collector (node_exporter's ``--collector.textfile.directory``) or
a one-off look: every incident and the outbox, as ``GET /metrics`` serves them,
without the process's counters (a one-shot command's would only be zeros). It
needs the ``prometheus`` extra; ``--since`` and ``--until`` do not apply (the
histograms count every incident the store holds).
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from .desk import IncidentDesk

__all__ = ["prometheus_metrics"]


def prometheus_metrics(args: argparse.Namespace, desk: IncidentDesk, out: TextIO) -> int:
    """Print the figures; return the exit code (2: a flag that does not apply, 3: the
    extra is missing). A database that cannot be read raises, as every command's does."""
    given = [flag for flag, value in (("--since", args.since), ("--until", args.until)) if value]
    if getattr(args, "json", False):
        given.append("--json")
    if given:
        sys.stderr.write(
            f"incident-lifecycle metrics: --format prometheus takes no {', '.join(given)} "
            "(it counts every incident)\n"
        )
        return 2
    try:
        from .prometheus import IncidentCollector
    except ImportError as error:
        sys.stderr.write(f"incident-lifecycle: {error}\n")
        return 3
    desk.outbox_stats()  # unreadable: the command line's store error (exit 4), not store_up 0
    body, _ = IncidentCollector(desk, process_metrics=False).exposition()
    out.write(body.decode("utf-8"))
    return 0
