"""Grafana Alerting's webhook contact point: Alertmanager's envelope, version ``1``.

Grafana sends the Alertmanager webhook's fields (``status``, ``alerts[]``
with ``labels``, ``annotations``, ``startsAt``, ``endsAt``,
``generatorURL``, ``fingerprint``; ``groupKey``, ``truncatedAlerts``,
``externalURL``) plus its own: ``orgId``, ``title``, ``state`` and
``message`` on the envelope, and per alert ``silenceURL``,
``dashboardURL``, ``panelURL``, ``imageURL`` (kept as links ``silence``,
``dashboard``, ``panel``, ``image``) and ``values`` / ``valueString``
(added to the description). The mapping is Alertmanager's
(:class:`GrafanaMapping` is :class:`~.alertmanager.AlertmanagerMapping`);
decoding, its errors and what is dropped are the same (see :mod:`.alertmanager`).
"""

from __future__ import annotations

from datetime import datetime

from .alertmanager import AlertmanagerMapping, Variant, decode_webhook
from .base import Decoded
from .memo import SignalMemo

__all__ = ["GRAFANA", "GrafanaMapping", "decode"]

GrafanaMapping = AlertmanagerMapping
"""Grafana's alerts carry Alertmanager's labels and annotations: the same mapping."""

GRAFANA = Variant(
    source="grafana",
    version="1",
    link_fields={
        "dashboardURL": "dashboard",
        "panelURL": "panel",
        "silenceURL": "silence",
        "imageURL": "image",
    },
    fact_fields={"orgId": "org_id", "title": "title", "state": "state"},
    value_fields=("valueString", "values"),
)
"""Grafana's webhook: version ``1`` and its extra fields."""


def decode(
    payload: object,
    mapping: AlertmanagerMapping | None = None,
    *,
    received_at: datetime | None = None,
    memo: SignalMemo | None = None,
) -> Decoded:
    """The commands of one Grafana webhook payload (as :func:`.alertmanager.decode`)."""
    return decode_webhook(payload, mapping, GRAFANA, received_at=received_at, memo=memo)
