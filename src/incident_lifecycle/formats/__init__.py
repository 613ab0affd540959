"""Input formats: a payload in, commands out (see :mod:`.base`).

One small module per source, each with ``decode(payload, mapping=None, *,
received_at=None) -> Decoded`` and a mapping class with documented defaults:
:mod:`.alertmanager` (``AlertmanagerMapping``), :mod:`.grafana`
(``GrafanaMapping``, the same), :mod:`.pagerduty` (``PagerDutyMapping``, and
``answer``), :mod:`.opsgenie` (``OpsgenieMapping``, ``close`` and
``answer``). What the mappings share is in :mod:`.mapping` (``KindRule``,
``SignalMapping``); reading JSON field by field in :mod:`.fields`. The replay
format of the command line is :mod:`incident_lifecycle.replay`. See
``docs/intake.md``.
"""

from .base import Decoded, Dropped, FormatError
from .mapping import DEFAULT_KIND_RULES, DEFAULT_SEVERITIES, KindRule, SignalMapping

__all__ = [
    "DEFAULT_KIND_RULES",
    "DEFAULT_SEVERITIES",
    "Decoded",
    "Dropped",
    "FormatError",
    "KindRule",
    "SignalMapping",
]
