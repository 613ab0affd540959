"""The HTTP service: a WSGI application (PEP 3333) over an :class:`IncidentDesk`.

``create_app(desk, tokens=...)`` returns the application: monitoring webhooks
(``POST /v1/alerts/{alertmanager,grafana,pagerduty,opsgenie}``), customer
reports (``POST /v1/reports``), incident reads (``GET /v1/incidents``,
``GET /v1/incidents/{id}``) and ``GET /healthz``. Serve it with any WSGI
server (``incident-lifecycle serve`` runs waitress, from the ``serve``
extra) or mount it in another framework. See ``docs/service.md``.
"""

from .app import ALERT_SOURCES, DEFAULT_REPORTER, TOKEN_SCOPES, IntakeApp, create_app
from .problems import PROBLEM_TYPES, Problem, problem_type
from .requests import Limits

__all__ = [
    "ALERT_SOURCES",
    "DEFAULT_REPORTER",
    "PROBLEM_TYPES",
    "TOKEN_SCOPES",
    "IntakeApp",
    "Limits",
    "Problem",
    "create_app",
    "problem_type",
]
