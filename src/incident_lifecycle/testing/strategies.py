"""Hypothesis strategies for every input and entity of ``incident_lifecycle``.

Use them in your own property tests (this module needs the ``test`` extra)::

    from hypothesis import given
    from incident_lifecycle.testing import strategies as ils

    @given(ils.alert_signals(product="chat"))
    def test_every_chat_signal_is_received(signal):
        ...

Every strategy builds values through the library's own constructors, so each
value it draws is valid: small strategies are combined with ``|``, larger ones
are ``@st.composite`` builders whose arguments pin a part of the value
(``actors(role=Role.SUPPORT)``, ``service_incidents(status="resolved")``).
Entities come in any status, with the fields that status implies
(``resolved_at`` for a resolved incident, ``ended_at`` for a solved report...)
and milestone timestamps in order.

:func:`commands` draws use cases: instances of the command classes of
``incident_lifecycle.commands.COMMANDS``, built from their fields, optionally
about incidents, alerts and tickets from pools a test keeps (see its
docstring), ready for ``IncidentDesk.handle``.

:func:`invalid_inputs` draws the opposite: ``(factory, kwargs, field)`` cases
where ``factory(**kwargs)`` must raise ``InvalidInput`` naming ``field``.

No strategy filters heavily; all of them stay fast enough for large
``max_examples``.
"""

from __future__ import annotations

from ._basics import (
    actors,
    aware_datetimes,
    identifiers,
    labels,
    links,
    severities,
    severity_levels,
    severity_scales,
    texts,
    urls,
)
from ._commands import commands
from ._entities import (
    alert_signals,
    alerts,
    customer_reports,
    handoffs,
    remediation_items,
    reviews,
    service_incidents,
    status_updates,
)
from ._events import domain_events
from ._invalid import INVALID_KINDS, InvalidCase, invalid_inputs

__all__ = [
    "INVALID_KINDS",
    "InvalidCase",
    "actors",
    "alert_signals",
    "alerts",
    "aware_datetimes",
    "commands",
    "customer_reports",
    "domain_events",
    "handoffs",
    "identifiers",
    "invalid_inputs",
    "labels",
    "links",
    "remediation_items",
    "reviews",
    "service_incidents",
    "severities",
    "severity_levels",
    "severity_scales",
    "status_updates",
    "texts",
    "urls",
]
