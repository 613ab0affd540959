"""Input formats: a payload in, commands out (see :mod:`.base`).

One small module per source: ``alertmanager``, ``grafana``, ``pagerduty``,
``opsgenie``. The replay format of the command line is :mod:`incident_lifecycle.replay`.
"""

from .base import Decoded, Dropped, FormatError

__all__ = ["Decoded", "Dropped", "FormatError"]
