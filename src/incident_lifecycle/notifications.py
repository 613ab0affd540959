"""Notifications: what the outbox holds, what a notifier answers, and safe message text.

Customer-facing text comes from developer-owned templates. Templates may only
name bare placeholders (``{status}``); user text is only ever a value, is
substituted in a single pass (never formatted twice), has CR/LF and other
control characters neutralised and is capped in length.
"""

from __future__ import annotations

import enum
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import attrs

from .domain.checks import (
    DESCRIPTION_MAX,
    KEY_MAX,
    LOCALE_MAX,
    MESSAGE_MAX,
    aware,
    check_enum,
    identifier,
    instance,
    optional,
    text,
)
from .domain.errors import InvalidInput

__all__ = [
    "DEFAULT_TEMPLATES",
    "DEFAULT_WORDS",
    "FIELD_MAX",
    "DeliveryResult",
    "DeliveryStatus",
    "FanOut",
    "MessageTemplate",
    "Notification",
    "RecipientKind",
    "StatusPageUpdate",
    "Templates",
    "Topic",
    "neutralise",
    "one_line",
]

FIELD_MAX = 2_000
"""No substituted value is longer than this (it is cut with an ellipsis)."""


class RecipientKind(enum.StrEnum):
    """Who a notification goes to."""

    TICKET = "ticket"
    """A customer's helpdesk ticket: only public text ever goes here."""
    TEAM = "team"
    """An internal team (engineering, support)."""
    STATUS_PAGE = "status_page"
    """The public status page: the recipient is the incident, the body a
    :class:`StatusPageUpdate` document (public text only, as for tickets)."""


class Topic(enum.StrEnum):
    """Why a notification is sent; each topic has its own template."""

    VALIDATION_REQUEST = "validation_request"
    VALIDATION_ESCALATED = "validation_escalated"
    SIGNALS_DIGEST = "signals_digest"
    SIGNALS_CLEARED = "signals_cleared"
    HANDOFF = "handoff"
    UPDATE_REMINDER = "update_reminder"
    TICKET_LINKED = "ticket_linked"
    STATUS_UPDATE = "status_update"
    RESOLUTION = "resolution"
    REPORT_TRANSFERRED = "report_transferred"
    INCIDENT_DECLARED = "incident_declared"


CUSTOMER_TOPICS = frozenset({Topic.TICKET_LINKED, Topic.STATUS_UPDATE, Topic.RESOLUTION})
STATUS_PAGE_TOPICS = frozenset({Topic.STATUS_UPDATE, Topic.RESOLUTION})


def _to_recipient_kind(value: RecipientKind | str) -> RecipientKind:
    return check_enum("recipient_kind", RecipientKind, value)


def _to_topic(value: Topic | str) -> Topic:
    return check_enum("topic", Topic, value)


@attrs.frozen(kw_only=True)
class Notification:
    """One message to one recipient, with a stable idempotency ``key``.

    The key names the incident, the cause (update, link, resolution, ...) and
    the recipient, so a re-send after a failure is recognisable downstream.
    """

    key: str = attrs.field(validator=identifier(KEY_MAX))
    recipient: str = attrs.field(validator=identifier())
    recipient_kind: RecipientKind = attrs.field(converter=_to_recipient_kind)
    topic: Topic = attrs.field(converter=_to_topic)
    incident_id: str | None = attrs.field(validator=optional(identifier()))
    subject: str = attrs.field(validator=text(DESCRIPTION_MAX))
    body: str = attrs.field(validator=text(MESSAGE_MAX))
    created_at: datetime = attrs.field(validator=aware())
    locale: str = attrs.field(default="en", validator=identifier(LOCALE_MAX))

    def __attrs_post_init__(self) -> None:
        if self.recipient_kind is RecipientKind.TICKET and self.topic not in CUSTOMER_TOPICS:
            raise InvalidInput("topic", f"{self.topic.value} is not a customer-facing topic")
        if self.recipient_kind is RecipientKind.STATUS_PAGE and self.topic not in (
            STATUS_PAGE_TOPICS
        ):
            raise InvalidInput("topic", f"{self.topic.value} is not a status page topic")

    @classmethod
    def restore(
        cls,
        *,
        key: str,
        recipient: str,
        recipient_kind: RecipientKind,
        topic: Topic,
        incident_id: str | None,
        subject: str,
        body: str,
        created_at: datetime,
        locale: str,
    ) -> Notification:
        """Rebuild a notification from fields already validated: a stored row, or a
        fan-out's shared text. Skips the validators and converters.

        A store reads back what a validated notification wrote, and a relay
        materialises one notification per message it sends, so this is on the
        hot path. The caller vouches for every field: ``recipient_kind`` and
        ``topic`` are enum members, ``created_at`` is aware, every text is
        within its limit. For anything else, call the constructor.

        >>> note = Notification.restore(
        ...     key="INC-1/resolution/T-1", recipient="T-1",
        ...     recipient_kind=RecipientKind.TICKET, topic=Topic.RESOLUTION,
        ...     incident_id="INC-1", subject="Resolved", body="Fixed.",
        ...     created_at=datetime.fromisoformat("2026-03-02T09:00+00:00"), locale="en")
        >>> note.recipient
        'T-1'
        """
        self = _new(cls)
        _set_key(self, key)
        _set_recipient(self, recipient)
        _set_recipient_kind(self, recipient_kind)
        _set_topic(self, topic)
        _set_incident_id(self, incident_id)
        _set_subject(self, subject)
        _set_body(self, body)
        _set_created_at(self, created_at)
        _set_locale(self, locale)
        return self


# The slots' own setters: ``restore`` fills a frozen notification without its
# ``__setattr__`` (which refuses) or ``object.__setattr__`` (a lookup per field).
_new = object.__new__
(
    _set_key,
    _set_recipient,
    _set_recipient_kind,
    _set_topic,
    _set_incident_id,
    _set_subject,
    _set_body,
    _set_created_at,
    _set_locale,
) = (Notification.__dict__[field.name].__set__ for field in attrs.fields(Notification))


def _to_recipients(value: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInput("recipients", "must be a sequence of ticket ids")
    return tuple(value)


@attrs.frozen(kw_only=True)
class FanOut:
    """One customer message to many tickets, stored once: the bulk form of notifications.

    Each recipient gets the notification keyed ``f"{key_prefix}/{recipient}"``.
    The text is validated once, whatever the number of recipients.
    """

    key_prefix: str = attrs.field(validator=identifier(KEY_MAX - 130))
    recipients: tuple[str, ...] = attrs.field(converter=_to_recipients, repr=False)
    topic: Topic = attrs.field(converter=_to_topic)
    incident_id: str | None = attrs.field(validator=optional(identifier()))
    subject: str = attrs.field(validator=text(DESCRIPTION_MAX))
    body: str = attrs.field(validator=text(MESSAGE_MAX))
    created_at: datetime = attrs.field(validator=aware())
    locale: str = attrs.field(default="en", validator=identifier(LOCALE_MAX))

    def __attrs_post_init__(self) -> None:
        if self.topic not in CUSTOMER_TOPICS:
            raise InvalidInput("topic", f"{self.topic.value} is not a customer-facing topic")
        for recipient in self.recipients:
            if not isinstance(recipient, str) or not recipient or len(recipient) > 128:
                raise InvalidInput("recipients", f"{recipient!r} is not a ticket id")

    def key_for(self, recipient: str) -> str:
        """The idempotency key of ``recipient``'s notification."""
        return f"{self.key_prefix}/{recipient}"

    def notifications(self) -> list[Notification]:
        """The individual notifications, one per recipient, in order."""
        return [self.notification(recipient) for recipient in self.recipients]

    def notification(self, recipient: str) -> Notification:
        """The notification of one recipient."""
        return Notification.restore(
            key=self.key_for(recipient),
            recipient=recipient,
            recipient_kind=RecipientKind.TICKET,
            topic=self.topic,
            incident_id=self.incident_id,
            subject=self.subject,
            body=self.body,
            created_at=self.created_at,
            locale=self.locale,
        )


PHASES = ("investigating", "identified", "monitoring", "resolved")
"""The status page's phases, in their usual order."""
IMPACTS = ("none", "minor", "major", "critical")
"""The status page's impact levels, mildest first."""


def impact_of(rank: int) -> str:
    """The status page impact of a public severity of ``rank``: 0 is critical, 1 major,
    anything milder minor."""
    return IMPACTS[max(1, 3 - rank)]


def _to_components(value: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInput("components", "must be a sequence of product names")
    for item in value:
        if not isinstance(item, str) or not item:
            raise InvalidInput("components", f"{item!r} is not a product name")
    return tuple(value)


def _one_of(*choices: str) -> Any:
    def check(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
        if value not in choices:
            raise InvalidInput(attribute.name, f"must be one of {', '.join(choices)}")

    return check


@attrs.frozen(kw_only=True)
class StatusPageUpdate:
    """What a status-page notification says, as the body of the notification (JSON).

    ``phase`` is the public phase after the update (``resolved`` for the
    resolution), ``impact`` comes from the severity (:func:`impact_of`), the
    ``components`` are the incident's products, ``text`` the public text.
    """

    title: str = attrs.field(validator=text(DESCRIPTION_MAX))
    phase: str = attrs.field(validator=_one_of(*PHASES))
    impact: str = attrs.field(validator=_one_of(*IMPACTS))
    severity: str = attrs.field(validator=identifier())
    components: tuple[str, ...] = attrs.field(converter=_to_components)
    text: str = attrs.field(validator=text(MESSAGE_MAX))

    def to_body(self) -> str:
        """The notification body: one JSON object (keys sorted)."""
        return json.dumps(attrs.asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def of(cls, notification: Notification) -> StatusPageUpdate:
        """Read a status-page notification's body; ``InvalidInput`` naming ``body`` (or the
        field at fault) when it is not such a document."""
        try:
            data = json.loads(notification.body)
        except ValueError as error:
            raise InvalidInput("body", f"is not a status page document: {error}") from None
        if not isinstance(data, dict) or set(data) != {a.name for a in attrs.fields(cls)}:
            raise InvalidInput("body", "is not a status page document")
        components = data["components"]
        if isinstance(components, list):
            data["components"] = tuple(components)
        try:
            return cls(**data)
        except (TypeError, ValueError) as error:
            if isinstance(error, InvalidInput):
                raise
            raise InvalidInput("body", f"is not a status page document: {error}") from None


class DeliveryStatus(enum.StrEnum):
    """A notifier's verdict on one notification."""

    DELIVERED = "delivered"
    RETRY = "retry"
    """A transient failure: try again later (optionally not before ``retry_after``)."""
    REJECTED = "rejected"
    """A permanent failure: dead-letter it."""
    THROTTLED = "throttled"
    """Not tried: the outlet asked to slow down (HTTP 429). Not a failed attempt: the
    relay pauses the notifier's route for ``retry_after`` and sends it again then."""


def _to_delivery_status(value: DeliveryStatus | str) -> DeliveryStatus:
    return check_enum("status", DeliveryStatus, value)


@attrs.frozen(kw_only=True)
class DeliveryResult:
    """What happened to one notification of a batch, by its key."""

    key: str = attrs.field(validator=instance(str))
    """The notification's key (the relay checks it belongs to the batch)."""
    status: DeliveryStatus = attrs.field(converter=_to_delivery_status)
    retry_after: timedelta | None = attrs.field(
        default=None, validator=optional(instance(timedelta))
    )
    """Not before this long, if the recipient said so: the relay waits the longer of this
    and its backoff, at most ``RetryPolicy.max_retry_after`` (one hour by default)."""
    error: str = attrs.field(default="", validator=instance(str))
    """What went wrong, as the notifier says it (neutralised and capped when recorded)."""

    @classmethod
    def delivered(cls, key: str) -> DeliveryResult:
        """The notification reached its recipient."""
        if not isinstance(key, str):
            raise InvalidInput("key", f"must be a string, not {type(key).__name__}")
        self = object.__new__(cls)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "status", DeliveryStatus.DELIVERED)
        object.__setattr__(self, "retry_after", None)
        object.__setattr__(self, "error", "")
        return self

    @classmethod
    def retry(cls, key: str, error: str = "", after: timedelta | None = None) -> DeliveryResult:
        """A transient failure; ``after`` is the recipient's retry-after, if it gave one."""
        return cls(key=key, status=DeliveryStatus.RETRY, retry_after=after, error=error)

    @classmethod
    def rejected(cls, key: str, error: str = "") -> DeliveryResult:
        """A permanent failure."""
        return cls(key=key, status=DeliveryStatus.REJECTED, error=error)

    @classmethod
    def throttled(cls, key: str, after: timedelta | None, error: str = "") -> DeliveryResult:
        """The outlet asked to wait ``after`` (its retry-after; ``None``: the relay's base
        wait) before anything more is sent on this notification's route."""
        return cls(key=key, status=DeliveryStatus.THROTTLED, retry_after=after, error=error)


# -- safe text ---------------------------------------------------------------

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def neutralise(value: object, limit: int = FIELD_MAX) -> str:
    """Make user text safe to place in a message or a log line.

    Line breaks, control and bidirectional-override characters become spaces
    (or ``?`` for the invisible ones); the result is at most ``limit`` long.
    """
    raw = unicodedata.normalize("NFC", str(value))
    cleaned = _UNSAFE.sub(lambda m: " " if m.group() in "\r\n\t\u2028\u2029" else "?", raw)
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "…" if limit > 0 else ""
    return cleaned


def one_line(value: object, limit: int = 300) -> str:
    """Neutralise ``value`` for a single log line (shorter cap)."""
    return neutralise(value, limit)


_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_PLACEHOLDER = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")


@attrs.frozen
class MessageTemplate:
    """A developer-owned template naming bare placeholders such as ``{status}``.

    ``{{`` and ``}}`` stand for literal braces. Anything else inside braces
    (attribute access, indexing, format specs, conversions) is refused when
    the template is built, so user text can never reach the formatter.

    >>> MessageTemplate("Incident {incident_id} is {status}.").render(
    ...     {"incident_id": "INC-1", "status": "{0.__class__}"})
    'Incident INC-1 is {0.__class__}.'
    """

    source: str = attrs.field(validator=text(5_000))
    placeholders: frozenset[str] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        names = set()
        for match in _TOKEN.finditer(self.source):
            token = match.group()
            if token in ("{{", "}}"):
                continue
            name = match.group(1)
            if name is None or not _PLACEHOLDER.match(name):
                raise InvalidInput("template", f"{token!r} is not a bare placeholder")
            names.add(name)
        object.__setattr__(self, "placeholders", frozenset(names))

    def render(self, values: Mapping[str, object], limit: int = FIELD_MAX) -> str:
        """Substitute ``values`` (each neutralised and capped) in one pass."""
        missing = self.placeholders - set(values)
        if missing:
            raise InvalidInput("template", f"no value for {', '.join(sorted(missing))}")

        def substitute(match: re.Match[str]) -> str:
            piece = match.group()
            if piece == "{{":
                return "{"
            if piece == "}}":
                return "}"
            return neutralise(values[match.group(1)], limit)

        return _TOKEN.sub(substitute, self.source)


_EN: dict[Topic, tuple[str, str]] = {
    Topic.VALIDATION_REQUEST: (
        "Please validate potential incident {incident_id} ({product})",
        "Monitoring grouped a new alert into potential incident {incident_id} "
        "for {product} in {region}: {summary}. Severity suggested by the source: "
        "{severity_hint}. Links: {links}. Validate it with a severity, or dismiss it.",
    ),
    Topic.VALIDATION_ESCALATED: (
        "Escalation {step}: potential incident {incident_id} ({product}) awaits validation",
        "Nobody acknowledged or validated potential incident {incident_id} for {product} in "
        "{region} ({title}) within {delay} of each step: this is escalation {step}, sent to "
        "its owner team {owner_team} and the incident managers. Severity suggested by the "
        "source: {severity_hint}. Acknowledge it, validate it with a severity, or dismiss it.",
    ),
    Topic.SIGNALS_DIGEST: (
        "New signals on incident {incident_id}",
        "{count} new alert(s) joined open incident {incident_id} ({title}). Latest: {summary}",
    ),
    Topic.SIGNALS_CLEARED: (
        "All signals cleared on incident {incident_id}",
        "Every alert of open incident {incident_id} ({title}) has recovered ({count} in all). "
        "The incident stays {status} until someone resolves it.",
    ),
    Topic.HANDOFF: (
        "Incident {incident_id} handed off to {to_team}",
        "{from_team} handed incident {incident_id} ({title}) to {to_team}: {reason}",
    ),
    Topic.UPDATE_REMINDER: (
        "Update due on incident {incident_id}",
        "Incident {incident_id} ({title}, {severity}) needs an update: "
        "it was due at {due_at} ({overdue} overdue).",
    ),
    Topic.TICKET_LINKED: (
        "Your request is part of a known service incident",
        "Thank you for your report. It is part of service incident {incident_id}: {title}. "
        "Current status: {status}. Latest update: {last_update}",
    ),
    Topic.STATUS_UPDATE: (
        "Update on service incident {incident_id}: {status}",
        "{body}",
    ),
    Topic.RESOLUTION: (
        "Service incident {incident_id} is resolved",
        "{resolution}",
    ),
    Topic.REPORT_TRANSFERRED: (
        "Customer report {ticket_id} transferred to {to_team}",
        "Support transferred ticket {ticket_id} ({product}) to {to_team}: {reason}",
    ),
    Topic.INCIDENT_DECLARED: (
        "Incident {incident_id} declared on {product} ({severity})",
        "{by} declared incident {incident_id} ({title}) at {severity}, owned by your team. "
        "First report: {summary}",
    ),
}

_FR: dict[Topic, tuple[str, str]] = {
    Topic.TICKET_LINKED: (
        "Votre demande fait partie d'un incident de service connu",
        "Merci pour votre signalement. Il fait partie de l'incident de service {incident_id} : "
        "{title}. Statut actuel : {status}. Dernière mise à jour : {last_update}",
    ),
    Topic.STATUS_UPDATE: (
        "Mise à jour de l'incident de service {incident_id} : {status}",
        "{body}",
    ),
    Topic.RESOLUTION: (
        "L'incident de service {incident_id} est résolu",
        "{resolution}",
    ),
}


_FR_WORDS: dict[str, str] = {
    "detected": "détecté",
    "investigating": "en cours d'analyse",
    "identified": "cause identifiée",
    "monitoring": "sous surveillance",
    "resolved": "résolu",
    "closed": "clos",
    "dismissed": "écarté",
    "merged": "fusionné",
    "unrated": "non évalué",
    "none yet": "aucune pour l'instant",
    "all regions": "toutes les régions",
}

DEFAULT_WORDS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {"fr": MappingProxyType(_FR_WORDS)}
)
"""The words a customer reads in a shipped template's values (statuses and phases, an
unrated severity, "none yet", "all regions"), per locale other than English."""


def _to_words(value: object) -> Mapping[str, Mapping[str, str]]:
    if not isinstance(value, Mapping):
        raise InvalidInput("words", "must map a locale to its words (English word: its own)")
    out: dict[str, Mapping[str, str]] = {}
    for locale, words in value.items():
        if not isinstance(locale, str) or not isinstance(words, Mapping):
            raise InvalidInput("words", "must map a locale to its words (English word: its own)")
        for english, own in words.items():
            if not isinstance(english, str) or not isinstance(own, str) or not own.strip():
                raise InvalidInput("words", f"{locale}: {english!r} needs a word of its own")
        out[locale] = MappingProxyType(dict(words))
    return MappingProxyType(out)


def _to_catalogue(
    value: Mapping[str, Mapping[Topic, tuple[str, str]]],
) -> Mapping[str, Mapping[Topic, tuple[MessageTemplate, MessageTemplate]]]:
    catalogue: dict[str, Mapping[Topic, tuple[MessageTemplate, MessageTemplate]]] = {}
    for locale, topics in value.items():
        catalogue[locale] = MappingProxyType(
            {
                check_enum("topic", Topic, topic): (MessageTemplate(subj), MessageTemplate(body))
                for topic, (subj, body) in topics.items()
            }
        )
    if "en" not in catalogue or set(catalogue["en"]) != set(Topic):
        raise InvalidInput("templates", "English templates are required for every topic")
    return MappingProxyType(catalogue)


@attrs.frozen
class Templates:
    """Templates per locale and topic; English is complete and the fallback."""

    catalogue: Mapping[str, Mapping[Topic, tuple[MessageTemplate, MessageTemplate]]] = attrs.field(
        converter=_to_catalogue
    )
    words: Mapping[str, Mapping[str, str]] = attrs.field(default=DEFAULT_WORDS, converter=_to_words)
    """Per locale, the customer's word for each English status, phase or placeholder word
    a template's values hold (``DEFAULT_WORDS``: French); English and unknown words stay."""

    def word(self, locale: str, english: str) -> str:
        """``english`` in ``locale`` (or its language), else as it is."""
        language = locale.replace("_", "-").split("-")[0].lower()
        for candidate in (locale, language):
            words = self.words.get(candidate)
            if words is not None and english in words:
                return words[english]
        return english

    def render(self, topic: Topic, locale: str, values: Mapping[str, object]) -> tuple[str, str]:
        """Subject and body for ``topic`` in ``locale`` (or its language, or English)."""
        language = locale.replace("_", "-").split("-")[0].lower()
        for candidate in (locale, language, "en"):
            templates = self.catalogue.get(candidate)
            if templates is not None and topic in templates:
                subject, body = templates[topic]
                return subject.render(values, 300), body.render(values, 10_000)
        raise InvalidInput("topic", f"no template for {topic.value}")  # pragma: no cover


DEFAULT_TEMPLATES = Templates({"en": _EN, "fr": _FR})
"""The shipped templates: every topic in English; customer topics in French too, with the
French for every status, phase and placeholder word a customer reads (``DEFAULT_WORDS``)."""
