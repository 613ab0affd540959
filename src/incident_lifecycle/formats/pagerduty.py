"""PagerDuty's Events API v2 (``POST /v2/enqueue``): one alert event in, one command out.

``trigger`` becomes a ``ReceiveAlerts`` of one signal: each trigger is an
occurrence (no start), counted on the active alert of its ``dedup_key``;
``resolve`` becomes a ``ClearAlert`` of that key; ``acknowledge`` is not
taken (someone acknowledges the incident on the desk) and is reported in
``dropped``. :class:`PagerDutyMapping` says which fields give the product
(an integration's routing key, or ``payload`` fields), the region and the
kind; ``payload.severity`` maps onto the scale as the hint. :func:`answer`
is the body PagerDuty's clients expect back (with HTTP 202).

A trigger without a ``dedup_key`` gets one derived from the event (so a
retried delivery is the same alert); a key longer than a fingerprint is
hashed (``sha256:``...) and kept on the alert. An event that is not
PagerDuty's (not an object, an unknown ``event_action``, a missing
``routing_key``, ``payload.summary``, ``payload.source`` or
``payload.severity``, a field of the wrong type, a summary over 1,024
characters) raises :class:`FormatError` naming the field path.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

import attrs

from ..commands import ClearAlert, ReceiveAlerts
from ..domain.alerts import AlertSignal
from ..domain.checks import (
    ALERT_DESCRIPTION_MAX,
    LABEL_MAX,
    LINK_NAME_MAX,
    MAX_LABELS,
    MAX_LINKS,
    SUMMARY_MAX,
    check_aware,
    check_identifier,
    check_text,
    check_url,
)
from ..domain.errors import InvalidInput
from .base import Decoded, Dropped, FormatError
from .fields import ROOT, at, fingerprint_of, item, listing, obj, optional_string, string, timestamp
from .mapping import SignalMapping, label_names

__all__ = ["SEVERITIES", "PagerDutyMapping", "answer", "decode"]

SEVERITIES = ("critical", "error", "warning", "info")
"""The severities an event may have (``payload.severity``)."""
_ACTIONS = ("trigger", "acknowledge", "resolve")
_FIELDS = ("summary", "source", "severity", "component", "group", "class")
_DETAILS = "custom_details."


def _routing_keys(value: object) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidInput("routing_keys", "must map integration keys to products")
    out = {}
    for key, product in value.items():
        if not isinstance(key, str) or not key.strip():
            raise InvalidInput("routing_keys", "each integration key must be a non-empty string")
        out[key] = check_identifier("routing_keys", product)
    return MappingProxyType(out)


def _check_paths(field: str, names: tuple[str, ...]) -> tuple[str, ...]:
    for name in names:
        if name not in _FIELDS and not (name.startswith(_DETAILS) and len(name) > len(_DETAILS)):
            raise InvalidInput(
                field,
                f"{name!r} is not a payload field ({', '.join(_FIELDS)}) or custom_details.KEY",
            )
    return names


@attrs.frozen(kw_only=True)
class PagerDutyMapping(SignalMapping):
    """Which fields of a PagerDuty event mean what.

    The product is the one ``routing_keys`` names for the event's integration
    key, else the first of ``product_fields`` set (``payload`` fields, or
    ``custom_details.KEY``), renamed through ``products``, else
    ``default_product`` (else the event is dropped). The region is the first
    of ``region_fields`` set. The kind is ``payload.class`` when that is a
    kind, else the first of ``kind_rules`` matching the class or the summary.
    ``payload.severity`` through ``severities`` is the hint. Labels kept:
    ``source``, ``component``, ``group``, ``class``, ``severity`` and, with
    ``keep_details``, each ``custom_details`` entry whose value is a string,
    number or boolean; the description is ``custom_details`` as JSON.
    """

    routing_keys: Mapping[str, str] = attrs.field(factory=dict, repr=False, hash=False)
    """Integration key to product (never shown: a routing key is a credential)."""
    product_fields: tuple[str, ...] = (
        "custom_details.product",
        "custom_details.service",
        "group",
    )
    region_fields: tuple[str, ...] = ("custom_details.region", "custom_details.pod")
    keep_details: bool = True

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        fix = functools.partial(object.__setattr__, self)
        for name in ("product_fields", "region_fields"):
            fix(name, _check_paths(name, label_names(name, getattr(self, name))))
        fix("routing_keys", _routing_keys(self.routing_keys))
        if not isinstance(self.keep_details, bool):
            raise InvalidInput("keep_details", "must be a bool")
        if not self.product_fields and not self.routing_keys and self.default_product is None:
            raise InvalidInput(
                "product_fields",
                "names no field, and no routing key or default_product names a "
                "product: no event could name its product",
            )


def decode(
    payload: object,
    mapping: PagerDutyMapping | None = None,
    *,
    received_at: datetime | None = None,
) -> Decoded:
    """The command of one PagerDuty event (see the module docstring).

    ``received_at`` (aware) is the signal's ``observed_at``; without it,
    ``payload.timestamp`` (``InvalidInput`` naming ``received_at`` if there is neither).
    """
    mapping = PagerDutyMapping() if mapping is None else mapping
    if not isinstance(mapping, PagerDutyMapping):
        raise InvalidInput("mapping", f"must be a PagerDutyMapping, not {type(mapping).__name__}")
    if received_at is not None:
        check_aware("received_at", received_at)
    event = obj(payload, ROOT)
    routing_key = string(event, "routing_key", ROOT)
    if not routing_key.strip():
        raise FormatError("routing_key", "must not be empty")
    action = string(event, "event_action", ROOT)
    if action not in _ACTIONS:
        raise FormatError(
            "event_action", f"must be one of {', '.join(_ACTIONS)}, not {action[:40]!r}"
        )
    key = optional_string(event, "dedup_key", ROOT)
    if action != "trigger":
        if key is None:
            raise FormatError("dedup_key", f"is required to {action}")
        fingerprint, _ = fingerprint_of(key)
        facts = {"source": "pagerduty", "event_action": action, "dedup_key": key}
        if action == "resolve":
            return Decoded(commands=(ClearAlert(fingerprint=fingerprint),), facts=facts)
        why = "acknowledge is not taken: acknowledge the incident on the desk"
        return Decoded(
            commands=(), dropped=(Dropped(path="event_action", reason=why),), facts=facts
        )
    body = obj(event.get("payload"), "payload")
    key = key or _derived_key(routing_key, body)
    signal, dropped = _Trigger(event, body, mapping).signal(key, received_at)
    facts = {"source": "pagerduty", "event_action": action, "dedup_key": key}
    commands = () if signal is None else (ReceiveAlerts(signals=(signal,)),)
    return Decoded(commands=commands, dropped=tuple(dropped), facts=facts)


def answer(decoded: Decoded) -> dict[str, str]:
    """The body PagerDuty's clients expect for an accepted event (sent with HTTP 202)."""
    out = {"status": "success", "message": "Event processed"}
    key = decoded.facts.get("dedup_key")
    if isinstance(key, str):
        out["dedup_key"] = key
    return out


def _derived_key(routing_key: str, body: Mapping[str, object]) -> str:
    """A trigger's own key when it has none: the same event always gets the same key."""
    text = json.dumps([routing_key, body], sort_keys=True, ensure_ascii=False, default=str)
    return "pd-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class _Trigger:
    """One trigger event made a signal; what it cannot keep is reported."""

    def __init__(
        self, event: Mapping[str, object], body: Mapping[str, object], mapping: PagerDutyMapping
    ) -> None:
        self.event, self.body, self.mapping = event, body, mapping
        self.dropped: list[Dropped] = []
        self.summary = string(body, "summary", "payload")
        if not self.summary.strip():
            raise FormatError("payload.summary", "must not be empty")
        if len(self.summary) > SUMMARY_MAX:
            raise FormatError(
                "payload.summary", f"is {len(self.summary)} characters long; the limit is 1024"
            )
        string(body, "source", "payload")
        self.severity = string(body, "severity", "payload")
        if self.severity not in SEVERITIES:
            raise FormatError(
                "payload.severity",
                f"must be one of {', '.join(SEVERITIES)}, not {self.severity[:40]!r}",
            )
        self.fields = {name: optional_string(body, name, "payload") for name in _FIELDS}
        self.when = (
            None
            if body.get("timestamp") is None
            else timestamp(body["timestamp"], "payload.timestamp")
        )
        details = body.get("custom_details")
        self.details = {} if details is None else dict(obj(details, "payload.custom_details"))
        self.urls = self.read_urls()

    def read_urls(self) -> list[tuple[str, str, str]]:
        """The event's link, image and client URLs: (name, URL, path), JSON types checked."""
        found: list[tuple[str, str, str]] = []
        client = optional_string(self.event, "client_url", ROOT)
        if client is not None:
            found.append(("client", client, "client_url"))
        for field, url_key, prefix in (("links", "href", "link"), ("images", "src", "image")):
            raw = self.event.get(field)
            for index, entry in enumerate(() if raw is None else listing(raw, field)):
                path = item(field, index)
                entry_obj = obj(entry, path)
                url = string(entry_obj, url_key, path)
                text = optional_string(entry_obj, "text", path) if field == "links" else None
                if field == "images":
                    optional_string(entry_obj, "href", path)
                    optional_string(entry_obj, "alt", path)
                found.append((_link_name(text, prefix, index), url, at(path, url_key)))
        return found

    def value(self, name: str) -> str | None:
        """A mapped field's value: a payload field, or a custom detail (scalars as text)."""
        if not name.startswith(_DETAILS):
            return self.fields.get(name)
        found = self.details.get(name[len(_DETAILS) :])
        if isinstance(found, bool):
            return str(found).lower()
        return str(found) if isinstance(found, str | int | float) and str(found) else None

    def first(self, names: tuple[str, ...]) -> tuple[str, str | None]:
        for name in names:
            found = self.value(name)
            if found:
                return name, found
        return (names[0] if names else "payload"), None

    def drop(self, path: str, reason: str) -> None:
        self.dropped.append(Dropped(path=path, reason=reason))

    def refuse(self, path: str, reason: str) -> tuple[None, list[Dropped]]:
        """The event is dropped: no signal, and why."""
        self.drop(path, f"event dropped: {reason}")
        return None, self.dropped

    def signal(
        self, key: str, received_at: datetime | None
    ) -> tuple[AlertSignal | None, list[Dropped]]:
        mapping = self.mapping
        named = mapping.routing_keys.get(str(self.event["routing_key"]))
        field, raw = self.first(mapping.product_fields)
        product = named or mapping.product_of(raw)
        region_field, region = self.first(mapping.region_fields)
        observed = received_at or self.when
        if product is None:
            return self.refuse(f"payload.{field}", "no product: no routing key or field names one")
        if observed is None:
            raise InvalidInput("received_at", "the event has no payload.timestamp: give one")
        for name, value, path in (
            ("product", product, "routing_key" if named else f"payload.{field}"),
            ("region", region, f"payload.{region_field}"),
            ("summary", self.summary, "payload.summary"),
        ):
            try:
                if name == "summary":
                    check_text(name, value, max_len=SUMMARY_MAX)
                elif value is not None:
                    check_identifier(name, value)
            except InvalidInput as error:
                return self.refuse(path, f"{name} {error.reason}")
        fingerprint, original = fingerprint_of(key)
        signal = AlertSignal(
            fingerprint=fingerprint,
            product=product,
            kind=mapping.kind_of(self.fields["class"], self.summary),
            summary=self.summary,
            observed_at=observed,
            region=region,
            labels=self.labels(),
            severity_hint=mapping.severity_of(self.severity),
            description=self.description(),
            links=self.links(),
            dedup_key=original,
        )
        return signal, self.dropped

    def labels(self) -> dict[str, str]:
        found = {name: value for name, value in self.fields.items() if value and name != "summary"}
        paths = {name: f"payload.{name}" for name in found}
        if self.mapping.keep_details:
            for name in self.details:
                value = self.value(_DETAILS + name)
                if value is not None and name not in found:
                    found[name], paths[name] = value, f"payload.custom_details.{name}"
        kept: dict[str, str] = {}
        for name, value in found.items():
            try:
                check_identifier("label", name, max_len=LABEL_MAX)
                check_text("label", value, max_len=LABEL_MAX, min_len=0)
            except InvalidInput as error:
                self.drop(paths[name], f"label not kept: {error.reason}")
                continue
            if len(kept) == MAX_LABELS:
                self.drop(paths[name], f"label not kept: the alert already has {MAX_LABELS} labels")
                continue
            kept[name] = value
        return kept

    def description(self) -> str | None:
        if not self.details:
            return None
        text = json.dumps(self.details, sort_keys=True, ensure_ascii=False, default=str)
        try:
            return check_text("description", text, max_len=ALERT_DESCRIPTION_MAX)
        except InvalidInput as error:
            self.drop("payload.custom_details", f"description not kept: {error.reason}")
            return None

    def links(self) -> dict[str, str]:
        kept: dict[str, str] = {}
        for name, url, path in self.urls:
            try:
                check_url("link", url)
            except InvalidInput as error:
                self.drop(path, f"link not kept: {error.reason}")
                continue
            if len(kept) == MAX_LINKS:
                self.drop(path, f"link not kept: the alert already has {MAX_LINKS} links")
                continue
            base, n = name, 1
            while name in kept:  # two links with the same text
                n += 1
                name = f"{base[: LINK_NAME_MAX - 4]}-{n}"
            kept[name] = url
        return kept


def _link_name(text: str | None, prefix: str, index: int) -> str:
    """A link's name: its text when that makes a name, else ``link-1``, ``image-2``..."""
    if text:
        try:
            return check_identifier("link", text.strip(), max_len=LINK_NAME_MAX)
        except InvalidInput:
            pass
    return f"{prefix}-{index + 1}"
