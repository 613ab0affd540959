"""Prometheus Alertmanager's webhook (version 4): firing alerts in, resolved alerts cleared.

:func:`decode` turns one webhook payload into at most two commands: a
``ReceiveAlerts`` of its firing alerts and a ``ClearAlerts`` of its resolved
ones. :class:`AlertmanagerMapping` says which labels give the product, the
region and the kind, how the ``severity`` label maps onto the scale, which
annotations are links, and which labels are kept (``docs/intake.md`` has
the table). Alertmanager sends a group again at every ``group_interval`` and
``repeat_interval`` and on retries: each alert's ``startsAt`` becomes the
signal's ``started_at``, so a re-sent alert counts nothing new.

A payload that is not a version-4 webhook (not an object, another version,
``alerts`` missing, not a list or empty, a field of the wrong JSON type)
raises :class:`FormatError` naming the field path; an alert the mapping
cannot use (no product label, a value over a limit) is dropped with its
path and reason and the others are decoded; ``truncatedAlerts`` above zero
is reported in ``dropped`` and ``facts``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

from ..commands import ClearAlerts, ReceiveAlerts
from ..domain.alerts import AlertSignal
from ..domain.checks import (
    ALERT_DESCRIPTION_MAX,
    GROUP_KEY_MAX,
    LABEL_MAX,
    LINK_NAME_MAX,
    MAX_LABELS,
    MAX_LINKS,
    SUMMARY_MAX,
    check_aware,
    check_identifier,
    check_text,
    check_url,
    plain_label,
)
from ..domain.errors import InvalidInput
from .base import Decoded, Dropped, FormatError
from .fields import (
    HASH_PREFIX,
    ROOT,
    at,
    fingerprint_of,
    integer,
    item,
    listing,
    obj,
    optional_string,
    string,
    string_map,
    timestamp,
)
from .mapping import SignalMapping, label_names, name_map
from .memo import SignalMemo, alert_key

__all__ = ["ALERTMANAGER", "AlertmanagerMapping", "Variant", "decode", "decode_webhook"]

_ZERO_TIME = datetime.min.year  # Alertmanager's "no time": 0001-01-01T00:00:00Z
_IDENTIFIER = check_identifier
_SUMMARY = functools.partial(check_text, max_len=SUMMARY_MAX)
_DESCRIPTION = functools.partial(check_text, max_len=ALERT_DESCRIPTION_MAX)


_NAME_FIELDS = (
    "product_labels",
    "region_labels",
    "kind_labels",
    "summary_annotations",
    "description_annotations",
)
_DEFAULT_LINKS: Mapping[str, str] = MappingProxyType(
    {
        "runbook_url": "runbook",
        "runbook": "runbook",
        "dashboard_url": "dashboard",
        "dashboard": "dashboard",
    }
)


@attrs.frozen(kw_only=True)
class AlertmanagerMapping(SignalMapping):
    """Which labels and annotations of an Alertmanager (or Grafana) alert mean what.

    The first of ``product_labels`` an alert has names its product (renamed
    through ``products``; ``default_product`` when it has none, else the
    alert is dropped); likewise ``region_labels`` its region. Its kind is the
    ``kind_label`` value when that is a kind (``latency``, ``error_rate``,
    ``volume``, ``other``), else the first of ``kind_rules`` whose keyword is
    in the ``kind_labels`` values or the summary. The ``severity_label``
    value, through ``severities``, is the severity hint. The summary is the
    first of ``summary_annotations``, else the ``alertname`` label; the
    description the first of ``description_annotations``; each of
    ``link_annotations`` (annotation name to link name) and the
    ``generatorURL`` are links. Labels kept: all (``keep_labels=None``) or
    those named, within the label limits.
    """

    product_labels: tuple[str, ...] = ("product", "service")
    region_labels: tuple[str, ...] = ("region", "pod", "zone")
    kind_label: str | None = "kind"
    kind_labels: tuple[str, ...] = ("alertname",)
    severity_label: str | None = "severity"
    summary_annotations: tuple[str, ...] = ("summary",)
    description_annotations: tuple[str, ...] = ("description", "message")
    link_annotations: Mapping[str, str] = attrs.field(default=_DEFAULT_LINKS, hash=False)
    keep_labels: tuple[str, ...] | None = None

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        fix = functools.partial(object.__setattr__, self)
        for name in _NAME_FIELDS:  # each a sequence of names (a TOML list too), kept as a tuple
            fix(name, label_names(name, getattr(self, name)))
        for name in ("kind_label", "severity_label"):
            value = getattr(self, name)
            if value is not None:
                fix(name, check_identifier(name, value, max_len=LABEL_MAX))
        if self.keep_labels is not None:
            fix("keep_labels", label_names("keep_labels", self.keep_labels))
        fix(
            "link_annotations",
            name_map("link_annotations", self.link_annotations, max_target=LINK_NAME_MAX),
        )
        if not self.product_labels and self.default_product is None:
            raise InvalidInput(
                "product_labels",
                "names no label and there is no default_product: no alert could name its product",
            )
        shared = sorted(set(self.product_labels) & set(self.region_labels))
        if shared:
            raise InvalidInput("region_labels", f"{', '.join(shared)} also names the product")


@attrs.frozen(kw_only=True)
class Variant:
    """A webhook of Alertmanager's shape: its source name, version and extra fields."""

    source: str
    version: str
    link_fields: Mapping[str, str] = attrs.field(factory=dict)
    """Per-alert fields holding a URL, and the link name each becomes."""
    fact_fields: Mapping[str, str] = attrs.field(factory=dict)
    """Envelope fields reported in ``facts`` (field name to fact name)."""
    value_fields: tuple[str, ...] = ()
    """Per-alert fields of the alert's values: the first one set is added to the description."""


_DEFAULT_MAPPING = AlertmanagerMapping()
"""The mapping of a decode given none (one object, so that a memo finds its alerts)."""

ALERTMANAGER = Variant(source="alertmanager", version="4")
"""Prometheus Alertmanager's webhook."""


def decode(
    payload: object,
    mapping: AlertmanagerMapping | None = None,
    *,
    received_at: datetime | None = None,
    memo: SignalMemo | None = None,
) -> Decoded:
    """The commands of one Alertmanager webhook payload (see the module docstring).

    ``received_at`` (aware) becomes each signal's ``observed_at`` (its
    ``last_seen_at``); without it, the alert's ``startsAt`` is used. With a
    ``memo`` (:class:`~incident_lifecycle.formats.memo.SignalMemo`), an alert
    decoded before with the same mapping is not decoded again: the result is
    the same.
    """
    return decode_webhook(payload, mapping, ALERTMANAGER, received_at=received_at, memo=memo)


def decode_webhook(
    payload: object,
    mapping: AlertmanagerMapping | None,
    variant: Variant,
    *,
    received_at: datetime | None = None,
    memo: SignalMemo | None = None,
) -> Decoded:
    """:func:`decode` for any webhook of Alertmanager's shape (``variant``: Grafana's too)."""
    mapping = _DEFAULT_MAPPING if mapping is None else mapping
    if not isinstance(mapping, AlertmanagerMapping):
        raise InvalidInput(
            "mapping", f"must be an AlertmanagerMapping, not {type(mapping).__name__}"
        )
    if received_at is not None:
        check_aware("received_at", received_at)
    body = obj(payload, ROOT)
    version = body.get("version")
    if version != variant.version:
        raise FormatError(
            "version", f"a {variant.source} webhook is version {variant.version!r}, not {version!r}"
        )
    if "alerts" not in body:
        raise FormatError("alerts", "is required")
    alerts = listing(body["alerts"], "alerts")
    if not alerts:
        raise FormatError("alerts", "holds no alert")
    facts = _envelope(body, variant)
    group = _group(facts.get("group_key"))
    signals: list[AlertSignal] = []
    clears: list[str] = []
    dropped: list[Dropped] = []
    context = (variant.source, group, received_at is None)
    for index, raw in enumerate(alerts):
        key = None if memo is None else alert_key(raw, context)
        if key is not None and memo is not None:
            known = memo.get(key, mapping)
            if known is not None:
                signals.append(known if received_at is None else known.seen_again(received_at))
                continue
        alert = _read(raw, item("alerts", index), variant)
        if alert.status == "resolved":
            clears.append(alert.fingerprint)
            continue
        kept = len(dropped)
        signal = _Build(alert, mapping, variant, dropped).signal(group, received_at)
        if signal is not None:
            signals.append(signal)
            if key is not None and memo is not None and len(dropped) == kept:
                memo.put(key, mapping, signal)
    truncated = integer(body, "truncatedAlerts", ROOT)
    if truncated:
        dropped.append(
            Dropped(
                path="truncatedAlerts",
                reason=f"{variant.source} left out {truncated} alert(s) of this group "
                "(its max_alerts): they were not received",
            )
        )
    commands: list[Any] = []
    if signals:
        commands.append(ReceiveAlerts(signals=signals))
    if clears:
        commands.append(ClearAlerts(fingerprints=clears))
    facts |= {
        "alerts": len(alerts),
        "firing": len(alerts) - len(clears),
        "resolved": len(clears),
        "truncated_alerts": truncated,
    }
    return Decoded(commands=tuple(commands), dropped=tuple(dropped), facts=facts)


def _envelope(body: Mapping[str, object], variant: Variant) -> dict[str, object]:
    """The envelope's facts, each field's JSON type checked."""
    status = optional_string(body, "status", ROOT)
    if status is not None and status not in ("firing", "resolved"):
        raise FormatError("status", f"must be firing or resolved, not {status[:40]!r}")
    for key in ("groupLabels", "commonLabels", "commonAnnotations"):
        string_map(body.get(key), key)
    facts: dict[str, object] = {"source": variant.source, "version": variant.version}
    for key, fact in (
        ("status", "status"),
        ("receiver", "receiver"),
        ("groupKey", "group_key"),
        ("externalURL", "external_url"),
    ):
        facts[fact] = optional_string(body, key, ROOT)
    for key, fact in variant.fact_fields.items():
        value = body.get(key)
        if isinstance(value, bool) or not isinstance(value, str | int | None):
            raise FormatError(key, "must be a string or a number")
        facts[fact] = value
    return facts


def _group(group_key: object) -> str | None:
    """The source's group key as a signal may hold it (hashed when too long or not one line)."""
    if not isinstance(group_key, str) or not group_key:
        return None
    try:
        return check_identifier("source_group", group_key, max_len=GROUP_KEY_MAX)
    except InvalidInput:
        return HASH_PREFIX + hashlib.sha256(group_key.encode("utf-8", "surrogatepass")).hexdigest()


@attrs.frozen
class _Alert:
    """One alert of the payload, its JSON types checked."""

    path: str
    status: str
    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts: datetime | None
    urls: Mapping[str, tuple[str, str]]
    """Link name to (field path, URL) from the alert's own URL fields."""
    values: tuple[str, ...]


def _read(raw: object, path: str, variant: Variant) -> _Alert:
    alert = obj(raw, path)
    status = string(alert, "status", path)
    if status not in ("firing", "resolved"):
        raise FormatError(at(path, "status"), f"must be firing or resolved, not {status[:40]!r}")
    labels = string_map(alert.get("labels"), at(path, "labels"))
    annotations = string_map(alert.get("annotations"), at(path, "annotations"))
    starts: datetime | None = None
    if status == "firing" or alert.get("startsAt") is not None:
        starts = timestamp(alert.get("startsAt"), at(path, "startsAt"))
        if starts.year == _ZERO_TIME:
            starts = None
    if alert.get("endsAt") is not None:
        timestamp(alert["endsAt"], at(path, "endsAt"))
    urls: dict[str, tuple[str, str]] = {}
    for field, name in (("generatorURL", "generator"), *variant.link_fields.items()):
        url = optional_string(alert, field, path)
        if url is not None:
            urls[name] = (at(path, field), url)
    values = []
    for field in variant.value_fields:  # the first one set
        value = alert.get(field)
        if value not in (None, "", {}):
            values.append(value if isinstance(value, str) else json.dumps(value, sort_keys=True))
            break
    key = optional_string(alert, "fingerprint", path)
    if key is None:  # older senders: the label set identifies the alert
        key = (
            HASH_PREFIX
            + hashlib.sha256(
                json.dumps(labels, sort_keys=True, ensure_ascii=False).encode(
                    "utf-8", "surrogatepass"
                )
            ).hexdigest()
        )
    fingerprint, _ = fingerprint_of(key)
    return _Alert(path, status, fingerprint, labels, annotations, starts, urls, tuple(values))


class _Build:
    """One firing alert made a signal, what it cannot keep reported in ``dropped``."""

    def __init__(
        self, alert: _Alert, mapping: AlertmanagerMapping, variant: Variant, dropped: list[Dropped]
    ) -> None:
        self.alert, self.mapping, self.variant, self.dropped = alert, mapping, variant, dropped

    def drop(self, path: str, reason: str) -> None:
        self.dropped.append(Dropped(path=path, reason=reason))

    def first(self, names: tuple[str, ...], among: Mapping[str, str]) -> tuple[str, str | None]:
        """The first of ``names`` set (non-empty) in ``among``, and its value."""
        for name in names:
            if among.get(name):
                return name, among[name]
        return (names[0] if names else ""), None

    def signal(self, group: str | None, received_at: datetime | None) -> AlertSignal | None:
        alert, mapping = self.alert, self.mapping
        labels_path = at(alert.path, "labels")
        label, raw_product = self.first(mapping.product_labels, alert.labels)
        product = mapping.product_of(raw_product)
        if product is None:
            names = ", ".join(mapping.product_labels)
            self.drop(at(labels_path, label), f"alert dropped: no product label ({names}) is set")
            return None
        region_label, region = self.first(mapping.region_labels, alert.labels)
        summary_name, summary = self.first(mapping.summary_annotations, alert.annotations)
        summary_path = at(at(alert.path, "annotations"), summary_name)
        if summary is None:
            summary_path = at(labels_path, "alertname")
            summary = (
                alert.labels.get("alertname") or f"{self.variant.source} alert {alert.fingerprint}"
            )
        checks = (
            ("product", product, at(labels_path, label), _IDENTIFIER),
            ("region", region, at(labels_path, region_label), _IDENTIFIER),
            ("summary", summary, summary_path, _SUMMARY),
        )
        for field, value, path, check in checks:
            if value is not None and not self.fits(field, value, path, check):
                return None
        description = self.description()
        observed = received_at or alert.starts
        if observed is None:
            self.drop(at(alert.path, "startsAt"), "alert dropped: no start, and no received_at")
            return None
        explicit = alert.labels.get(mapping.kind_label) if mapping.kind_label else None
        hints = [alert.labels.get(name) for name in mapping.kind_labels]
        severity = alert.labels.get(mapping.severity_label) if mapping.severity_label else None
        return AlertSignal(
            fingerprint=alert.fingerprint,
            product=product,
            kind=mapping.kind_of(explicit, *hints, summary),
            summary=summary,
            observed_at=observed,
            region=region,
            labels=self.labels(),
            started_at=alert.starts,
            severity_hint=mapping.severity_of(severity),
            description=description,
            links=self.links(),
            source_group=group,
        )

    def fits(self, field: str, value: str, path: str, check: Any) -> bool:
        try:
            check(field, value)
        except InvalidInput as error:
            self.drop(path, f"alert dropped: {field} {error.reason}")
            return False
        return True

    def description(self) -> str | None:
        """The description annotation and the alert's values; over its limit, not kept."""
        alert = self.alert
        name, text = self.first(self.mapping.description_annotations, alert.annotations)
        joined = "\n".join(p for p in (text, *alert.values) if p)
        if not joined:
            return None
        try:
            return _DESCRIPTION("description", joined)
        except InvalidInput as error:
            path = at(at(alert.path, "annotations"), name)
            self.drop(path, f"description not kept: {error.reason}")
            return None

    def labels(self) -> dict[str, str]:
        alert, keep = self.alert, self.mapping.keep_labels
        chosen = (
            sorted(alert.labels.items())
            if keep is None
            else [(k, alert.labels[k]) for k in keep if k in alert.labels]
        )
        if len(chosen) <= MAX_LABELS and all(plain_label(k, v) for k, v in chosen):
            return dict(chosen)
        kept: dict[str, str] = {}
        for key, value in chosen:
            try:
                check_identifier("label", key, max_len=LABEL_MAX)
                check_text("label", value, max_len=LABEL_MAX, min_len=0)
            except InvalidInput as error:
                self.drop(at(at(alert.path, "labels"), key), f"label not kept: {error.reason}")
                continue
            if len(kept) == MAX_LABELS:
                path = at(at(alert.path, "labels"), key)
                self.drop(path, f"label not kept: the alert already has {MAX_LABELS} labels")
                continue
            kept[key] = value
        return kept

    def links(self) -> dict[str, str]:
        alert = self.alert
        found = dict(alert.urls)
        annotations_path = at(alert.path, "annotations")
        for annotation, name in self.mapping.link_annotations.items():
            url = alert.annotations.get(annotation)
            if url and name not in found:
                found[name] = (at(annotations_path, annotation), url)
        kept: dict[str, str] = {}
        for name, (path, url) in found.items():
            try:
                check_url("link", url)
            except InvalidInput as error:
                self.drop(path, f"link not kept: {error.reason}")
                continue
            if len(kept) == MAX_LINKS:
                self.drop(path, f"link not kept: the alert already has {MAX_LINKS} links")
                continue
            kept[name] = url
        return kept
