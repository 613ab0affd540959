"""Opsgenie's Alert API: create an alert (``POST /v2/alerts``), close it by alias.

:func:`decode` turns a create-alert body into a ``ReceiveAlerts`` of one
signal; each create is an occurrence, counted on the active alert of its
``alias`` (Opsgenie's dedup key; without one, its ``message``, as Opsgenie
does). An alias longer than a fingerprint (Opsgenie allows 512 characters)
is hashed (``sha256:``...) and kept on the alert. :func:`close` turns a
close (``POST /v2/alerts/{alias}/close?identifierType=alias``) into a
``ClearAlert`` of the same fingerprint. :class:`OpsgenieMapping` says which
fields give the product, the region and the kind, and how ``priority``
(P1-P5, P3 by default) maps onto the scale. :func:`answer` is Opsgenie's own
answer body (sent with HTTP 202: processing is asynchronous there too).

A body that is not Opsgenie's (not an object, no ``message``, an unknown
``priority``, a field of the wrong type, a value over Opsgenie's limits)
raises :class:`FormatError` naming the field path.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

import attrs

from ..commands import ClearAlert, ReceiveAlerts
from ..domain.alerts import AlertSignal
from ..domain.checks import (
    LABEL_MAX,
    MAX_LABELS,
    SUMMARY_MAX,
    check_aware,
    check_identifier,
    check_text,
)
from ..domain.errors import InvalidInput
from .base import Decoded, Dropped, FormatError
from .fields import ROOT, fingerprint_of, item, listing, obj, optional_string, string_map
from .mapping import SignalMapping, label_names, severity_map

__all__ = ["LIMITS", "PRIORITIES", "OpsgenieMapping", "answer", "close", "decode"]

PRIORITIES: Mapping[str, str] = MappingProxyType(
    {"P1": "SEV1", "P2": "SEV2", "P3": "SEV3", "P4": "SEV4", "P5": "SEV4"}
)
"""Opsgenie's priorities to the default scale (SEV0 is left to people)."""
LIMITS: Mapping[str, int] = MappingProxyType(
    {
        "message": 1_024,  # Opsgenie keeps 130; a longer one is still a summary here
        "alias": 512,
        "description": 15_000,
        "entity": 512,
        "source": 100,
        "user": 100,
        "note": 25_000,
    }
)
"""The longest value of each text field taken."""
_FIELDS = ("entity", "source", "user")
_DETAILS = "details."


def _check_paths(field: str, names: tuple[str, ...]) -> tuple[str, ...]:
    for name in names:
        if name not in _FIELDS and not (name.startswith(_DETAILS) and len(name) > len(_DETAILS)):
            raise InvalidInput(field, f"{name!r} is not entity, source, user or details.KEY")
    return names


@attrs.frozen(kw_only=True)
class OpsgenieMapping(SignalMapping):
    """Which fields of an Opsgenie alert mean what.

    The product is the first of ``product_fields`` set (``details.KEY``,
    ``entity``, ``source`` or ``user``), renamed through ``products``, else
    ``default_product`` (else the alert is dropped); the region the first of
    ``region_fields``. The kind is ``details.kind`` when that is a kind,
    else the first of ``kind_rules`` matching the message or the tags.
    ``priority`` (``P3`` when absent) through ``severities`` is the hint.
    Labels kept: the ``details``, ``entity``, ``source``, ``user``,
    ``priority`` and the ``tags`` (comma-separated), within the label limits.
    """

    product_fields: tuple[str, ...] = ("details.product", "details.service")
    region_fields: tuple[str, ...] = ("details.region", "details.pod")
    severities: Mapping[str, str] = attrs.field(
        default=PRIORITIES, converter=severity_map, hash=False
    )

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        fix = functools.partial(object.__setattr__, self)
        for name in ("product_fields", "region_fields"):
            fix(name, _check_paths(name, label_names(name, getattr(self, name))))
        if not self.product_fields and self.default_product is None:
            raise InvalidInput(
                "product_fields",
                "names no field and there is no default_product: no alert could name its product",
            )


def decode(
    payload: object,
    mapping: OpsgenieMapping | None = None,
    *,
    received_at: datetime | None = None,
) -> Decoded:
    """The command of one create-alert body (see the module docstring).

    ``received_at`` (aware) is the signal's ``observed_at``: an Opsgenie
    alert carries no time of its own, so without it ``InvalidInput`` names
    ``received_at``.
    """
    mapping = _mapping(mapping)
    if received_at is not None:
        check_aware("received_at", received_at)
    body = obj(payload, ROOT)
    texts = {name: _text(body, name) for name in LIMITS}
    message = texts["message"]
    if message is None:
        raise FormatError("message", "is required")
    priority = optional_string(body, "priority", ROOT) or "P3"
    if priority not in PRIORITIES:
        raise FormatError("priority", f"must be one of P1 to P5, not {priority[:40]!r}")
    tags = _tags(body.get("tags"))
    details = string_map(body.get("details"), "details")
    for name in ("responders", "visibleTo", "actions"):
        if body.get(name) is not None:
            listing(body[name], name)
    alias = texts["alias"] or message
    facts: dict[str, object] = {"source": "opsgenie", "action": "create", "alias": alias}
    found = _Alert(texts, details, tags, priority, mapping)
    signal = found.signal(alias, received_at)
    commands = () if signal is None else (ReceiveAlerts(signals=(signal,)),)
    return Decoded(commands=commands, dropped=tuple(found.dropped), facts=facts)


def close(identifier: str, payload: object = None, *, identifier_type: str = "alias") -> Decoded:
    """The command of a close: ``identifier`` is the alert's alias (from the request's path).

    ``payload`` (optional) is the close body (``user``, ``source``, ``note``);
    only ``identifierType=alias`` is known here (this desk hands out no
    Opsgenie alert ids).
    """
    if identifier_type != "alias":
        raise FormatError(
            "identifierType", f"only alias identifies an alert here, not {identifier_type[:40]!r}"
        )
    if not isinstance(identifier, str) or not identifier.strip():
        raise FormatError("identifier", "must be the alert's alias")
    if len(identifier) > LIMITS["alias"]:
        raise FormatError("identifier", f"is {len(identifier)} characters long; the limit is 512")
    if payload is not None:
        body = obj(payload, ROOT)
        for name in ("user", "source", "note"):
            _text(body, name)
    fingerprint, _ = fingerprint_of(identifier)
    facts = {"source": "opsgenie", "action": "close", "alias": identifier}
    return Decoded(commands=(ClearAlert(fingerprint=fingerprint),), facts=facts)


def answer(request_id: str) -> dict[str, object]:
    """Opsgenie's answer to an accepted request (HTTP 202), with the caller's request id."""
    return {"result": "Request will be processed", "took": 0.0, "requestId": request_id}


def _mapping(mapping: object) -> OpsgenieMapping:
    if mapping is None:
        return OpsgenieMapping()
    if not isinstance(mapping, OpsgenieMapping):
        raise InvalidInput("mapping", f"must be an OpsgenieMapping, not {type(mapping).__name__}")
    return mapping


def _text(body: Mapping[str, object], name: str) -> str | None:
    """An optional text field within Opsgenie's limit (``None`` when absent or blank)."""
    value = optional_string(body, name, ROOT)
    if value is None or not value.strip():
        return None
    if len(value) > LIMITS[name]:
        raise FormatError(name, f"is {len(value)} characters long; the limit is {LIMITS[name]}")
    return value


def _tags(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    out = []
    for index, tag in enumerate(listing(value, "tags")):
        if not isinstance(tag, str):
            raise FormatError(item("tags", index), "must be a string")
        out.append(tag)
    return tuple(out)


class _Alert:
    """One create-alert body made a signal; what it cannot keep is reported."""

    def __init__(
        self,
        texts: Mapping[str, str | None],
        details: Mapping[str, str],
        tags: tuple[str, ...],
        priority: str,
        mapping: OpsgenieMapping,
    ) -> None:
        self.texts, self.details, self.tags = texts, details, tags
        self.priority, self.mapping = priority, mapping
        self.dropped: list[Dropped] = []

    def value(self, name: str) -> str | None:
        if name.startswith(_DETAILS):
            return self.details.get(name[len(_DETAILS) :]) or None
        return self.texts.get(name)

    def first(self, names: tuple[str, ...]) -> tuple[str, str | None]:
        for name in names:
            found = self.value(name)
            if found:
                return name, found
        return (names[0] if names else ROOT), None

    def signal(self, alias: str, received_at: datetime | None) -> AlertSignal | None:
        mapping, message = self.mapping, self.texts["message"] or ""
        field, raw = self.first(mapping.product_fields)
        product = mapping.product_of(raw)
        region_field, region = self.first(mapping.region_fields)
        for name, value, path in (
            ("product", product, field),
            ("region", region, region_field),
            ("summary", message, "message"),
        ):
            reason = "is not set" if value is None and name == "product" else None
            if value is not None:
                try:
                    if name == "summary":
                        check_text(name, value, max_len=SUMMARY_MAX)
                    else:
                        check_identifier(name, value)
                except InvalidInput as error:
                    reason = error.reason
            if reason is not None:
                self.dropped.append(Dropped(path=path, reason=f"alert dropped: {name} {reason}"))
                return None
        if received_at is None:
            raise InvalidInput("received_at", "an Opsgenie alert carries no time: pass received_at")
        assert product is not None
        fingerprint, original = fingerprint_of(alias)
        return AlertSignal(
            fingerprint=fingerprint,
            product=product,
            kind=mapping.kind_of(self.details.get("kind"), message, " ".join(self.tags)),
            summary=message,
            observed_at=received_at,
            region=region,
            labels=self.labels(),
            severity_hint=mapping.severity_of(self.priority),
            description=self.description(),
            dedup_key=original,
        )

    def description(self) -> str | None:
        text = self.texts["description"]
        try:
            return None if text is None else check_text("description", text, max_len=15_000)
        except InvalidInput as error:
            self.dropped.append(
                Dropped(path="description", reason=f"description not kept: {error.reason}")
            )
            return None

    def labels(self) -> dict[str, str]:
        found = {f"details.{k}": (k, v) for k, v in self.details.items()}
        for name in _FIELDS:
            if self.texts.get(name):
                found[name] = (name, str(self.texts[name]))
        found["priority"] = ("priority", self.priority)
        if self.tags:
            found["tags"] = ("tags", ",".join(self.tags))
        kept: dict[str, str] = {}
        for path, (name, value) in found.items():
            try:
                check_identifier("label", name, max_len=LABEL_MAX)
                check_text("label", value, max_len=LABEL_MAX, min_len=0)
            except InvalidInput as error:
                self.dropped.append(Dropped(path=path, reason=f"label not kept: {error.reason}"))
                continue
            if len(kept) == MAX_LABELS:
                self.dropped.append(Dropped(path=path, reason="label not kept: too many labels"))
                continue
            kept.setdefault(name, value)
        return kept
