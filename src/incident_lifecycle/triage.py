"""Triage of customer reports: a pure policy that suggests one of the three outcomes.

Support decides whether a report belongs to an existing incident (link the
ticket), is a new incident (open one at a severity) or is not an incident
(standard troubleshooting). :class:`DefaultTriagePolicy` makes that
suggestion from documented, configurable rules; an agent may override it.
The policy does no I/O and never reads the clock: the desk passes in the
candidates, the recent reports and the time.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Protocol, runtime_checkable

import attrs

from .domain.alerts import AlertKind
from .domain.checks import (
    SEVERITY_NAME_MAX,
    check_enum,
    check_identifier,
    check_int,
    check_non_negative,
    has_lone_surrogate,
    identifier,
    optional,
    shifted_back,
)
from .domain.errors import InvalidInput
from .domain.incidents import OPEN_STATUSES, ServiceIncident, regions_compatible
from .domain.reports import CustomerReport, Symptom, TriageOutcome

__all__ = [
    "DEFAULT_SYMPTOM_KINDS",
    "DefaultTriagePolicy",
    "TriageDecision",
    "TriagePolicy",
]

DEFAULT_SYMPTOM_KINDS: Mapping[Symptom, frozenset[AlertKind]] = MappingProxyType(
    {
        Symptom.SLOW: frozenset({AlertKind.LATENCY}),
        Symptom.ERRORS: frozenset({AlertKind.ERROR_RATE}),
        Symptom.UNAVAILABLE: frozenset({AlertKind.ERROR_RATE, AlertKind.VOLUME}),
        Symptom.DELAYED: frozenset({AlertKind.VOLUME, AlertKind.LATENCY}),
        Symptom.OTHER: frozenset(),
    }
)
"""Which alert kinds each symptom is compatible with (slow <-> latency, ...).

``other`` says nothing about the service: it neither matches nor excludes.
"""


def _to_outcome(value: TriageOutcome | str) -> TriageOutcome:
    try:
        return TriageOutcome(value)
    except ValueError:
        raise InvalidInput("outcome", f"{value!r} is not a triage outcome") from None


def _to_score(value: object) -> float:
    if not isinstance(value, bool) and isinstance(value, int | float):
        try:
            score = float(value)
        except OverflowError:
            score = math.inf
        if math.isfinite(score):
            return score
    raise InvalidInput("score", "must be a finite number")


def _to_reasons(value: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInput("reasons", "must be a sequence of strings")
    for reason in value:
        if not isinstance(reason, str):
            raise InvalidInput("reasons", "must be a sequence of strings")
        if has_lone_surrogate(reason):
            raise InvalidInput("reasons", "must not contain lone surrogates (not Unicode text)")
    return tuple(value)


@attrs.frozen(kw_only=True)
class TriageDecision:
    """A triage outcome with what it needs and why.

    ``incident_id`` is required to link, ``severity`` (a level name) to open.
    """

    outcome: TriageOutcome = attrs.field(converter=_to_outcome)
    incident_id: str | None = attrs.field(default=None, validator=optional(identifier()))
    severity: str | None = attrs.field(
        default=None, validator=optional(identifier(SEVERITY_NAME_MAX))
    )
    score: float = attrs.field(default=0.0, converter=_to_score)
    """How strongly the policy holds it (a finite number; the scale is the policy's)."""
    reasons: tuple[str, ...] = attrs.field(default=(), converter=_to_reasons)

    def __attrs_post_init__(self) -> None:
        if self.outcome is TriageOutcome.LINK_EXISTING and self.incident_id is None:
            raise InvalidInput("incident_id", "linking needs the incident to link to")
        if self.outcome is TriageOutcome.OPEN_NEW and self.severity is None:
            raise InvalidInput("severity", "opening an incident needs a severity")

    @classmethod
    def link(cls, incident_id: str, *reasons: str) -> TriageDecision:
        """Link the report to ``incident_id``."""
        return cls(outcome=TriageOutcome.LINK_EXISTING, incident_id=incident_id, reasons=reasons)

    @classmethod
    def open_new(cls, severity: str, *reasons: str) -> TriageDecision:
        """Open a new incident at ``severity``."""
        return cls(outcome=TriageOutcome.OPEN_NEW, severity=severity, reasons=reasons)

    @classmethod
    def troubleshoot(cls, *reasons: str) -> TriageDecision:
        """Not a service incident: standard troubleshooting."""
        return cls(outcome=TriageOutcome.TROUBLESHOOT, reasons=reasons)


@runtime_checkable
class TriagePolicy(Protocol):
    """Decides what a customer report is. Must be pure: no I/O, no clock reads.

    ``candidates`` are the open incidents of the report's product (with the
    kinds of their alerts in ``ServiceIncident.signal_kinds``);
    ``recent_reports`` are reports on the same product within the policy's
    look-back (``lookback``), the report itself not included.
    """

    @property
    def lookback(self) -> timedelta:
        """How far back ``recent_reports`` must reach."""
        ...

    def assess(
        self,
        report: CustomerReport,
        candidates: Sequence[ServiceIncident],
        recent_reports: Sequence[CustomerReport],
        now: datetime,
    ) -> TriageDecision:
        """Suggest an outcome for ``report``."""
        ...


_WORD = re.compile(r"[^\W\d_]{4,}", re.UNICODE)
_STOP = frozenset(
    {
        "this",
        "that",
        "with",
        "from",
        "have",
        "been",
        "were",
        "they",
        "their",
        "there",
        "what",
        "when",
        "which",
        "while",
        "about",
        "after",
        "before",
        "cannot",
        "could",
        "would",
        "should",
        "into",
        "than",
        "then",
        "them",
        "these",
        "those",
        "very",
        "also",
        "just",
        "only",
        "some",
        "more",
        "most",
        "other",
        "such",
        "your",
        "yours",
        "ours",
        "please",
        "thanks",
        "thank",
        "hello",
        "issue",
        "problem",
        "avec",
        "dans",
        "pour",
        "nous",
        "vous",
        "sont",
        "cette",
        "mais",
        "plus",
        "tout",
        "tous",
        "depuis",
    }
)


@functools.lru_cache(maxsize=4096)
def terms(text: str) -> frozenset[str]:
    """Significant lower-case words of 4+ letters, stop words removed (memoised: pure)."""
    return frozenset(w for w in (m.lower() for m in _WORD.findall(text)) if w not in _STOP)


def _check_reach(_inst: object, _attribute: object, value: tuple[tuple[int, str], ...]) -> None:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise InvalidInput("reach_severity", "needs at least one (accounts, severity) pair")
    for pair in value:
        if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise InvalidInput("reach_severity", f"{pair!r} is not an (accounts, severity) pair")
        accounts, name = pair
        check_int("reach_severity", accounts)
        identifier(SEVERITY_NAME_MAX)(None, attrs.fields(TriageDecision).severity, name)


def _to_symptoms(value: object) -> frozenset[Symptom]:
    if isinstance(value, str) or not isinstance(value, Collection):
        raise InvalidInput("surge_symptoms", "must be a set of symptoms")
    return frozenset(check_enum("surge_symptoms", Symptom, item) for item in value)


def _check_bump(_inst: object, _attribute: object, value: object) -> None:
    if not isinstance(value, Mapping):
        raise InvalidInput("unavailable_bump", "must map a severity name to a worse one")
    for source, target in value.items():
        check_identifier("unavailable_bump", source, max_len=SEVERITY_NAME_MAX)
        check_identifier("unavailable_bump", target, max_len=SEVERITY_NAME_MAX)


@attrs.frozen(kw_only=True)
class DefaultTriagePolicy:
    """The documented rules (see ``docs/triage.md``); every number is configurable.

    A candidate is an open incident that:
    - shares the report's product (required; the desk only passes those);
    - agrees on region/pod when both name one (different: excluded; same: ``+region_weight``);
    - did not start more than ``grace`` after the report (an older report
      describes something else);
    - has signals compatible with the symptom (``symptom_kinds``), or linked
      reports with the same symptom (either: ``+symptom_weight``; signals that
      are all incompatible: excluded; nothing to compare: ``+unknown_symptom_weight``).
    Shared terms between the report and the incident's title and last public
    update add ``term_weight`` each, up to ``max_term_bonus``. The product
    itself scores ``product_weight``. The best candidate at or above
    ``threshold`` is linked (ties: the most recently opened).

    Without a match, a *surge* (at least ``surge_accounts`` distinct accounts,
    this one included, reporting the same product and symptom within
    ``surge_window``; only ``surge_symptoms`` count) proposes a new incident,
    with a severity from reach
    (``reach_severity``: the first ``(accounts, level)`` pair whose threshold
    the reach meets, checked from the largest) made one level worse
    (``unavailable_bump``) when the product is unavailable. Otherwise: troubleshoot.
    """

    threshold: float = 3.0
    product_weight: float = 1.0
    region_weight: float = 1.5
    symptom_weight: float = 2.0
    unknown_symptom_weight: float = 0.5
    term_weight: float = 0.5
    max_term_bonus: float = 2.0
    grace: timedelta = attrs.field(default=timedelta(minutes=30))
    surge_accounts: int = 5
    surge_window: timedelta = attrs.field(default=timedelta(minutes=15))
    surge_symptoms: frozenset[Symptom] = attrs.field(
        default=frozenset({Symptom.SLOW, Symptom.ERRORS, Symptom.UNAVAILABLE, Symptom.DELAYED}),
        converter=_to_symptoms,
    )
    """Symptoms that can make a surge (questions filed as ``other`` never do)."""
    reach_severity: tuple[tuple[int, str], ...] = attrs.field(
        default=((100, "SEV1"), (25, "SEV2"), (0, "SEV3")), validator=_check_reach
    )
    unavailable_bump: Mapping[str, str] = attrs.field(
        factory=lambda: MappingProxyType({"SEV1": "SEV0", "SEV2": "SEV1", "SEV3": "SEV2"}),
        validator=_check_bump,
    )
    symptom_kinds: Mapping[Symptom, frozenset[AlertKind]] = DEFAULT_SYMPTOM_KINDS

    def __attrs_post_init__(self) -> None:
        check_non_negative("grace", self.grace)
        check_non_negative("surge_window", self.surge_window)
        check_int("surge_accounts", self.surge_accounts, minimum=1)
        for name in (
            "threshold",
            "product_weight",
            "region_weight",
            "symptom_weight",
            "unknown_symptom_weight",
            "term_weight",
            "max_term_bonus",
        ):
            value = getattr(self, name)
            # NaN is not ">= 0"; a bool is an int to Python, not a weight to anyone.
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise InvalidInput(name, "must be a number of zero or more")

    @property
    def lookback(self) -> timedelta:
        """Recent reports are needed as far back as the surge window."""
        return self.surge_window

    def assess(
        self,
        report: CustomerReport,
        candidates: Sequence[ServiceIncident],
        recent_reports: Sequence[CustomerReport],
        now: datetime,
    ) -> TriageDecision:
        """Link to the best open incident with evidence, else prefer a compatible open incident
        to a surge's new one, else propose a new one on a surge, else troubleshoot."""
        reasons: list[str] = []
        best: tuple[float, datetime, ServiceIncident] | None = None
        fallback: tuple[float, datetime, ServiceIncident] | None = None
        report_terms = terms(report.summary)
        for incident in candidates:
            scored = self._score(report, report_terms, incident, reasons)
            if scored is None:
                continue
            score, evidence = scored
            ranked = (score, incident.opened_at or incident.detected_at, incident)
            if fallback is None or ranked[:2] > fallback[:2]:
                fallback = ranked
            if not evidence:
                reasons.append(
                    f"{incident.id} not linked: no evidence about the problem (a compatible "
                    "symptom or shared terms); product and region are only context"
                )
            elif best is None or ranked[:2] > best[:2]:
                best = ranked
        if best is not None and best[0] >= self.threshold:
            score, _, incident = best
            reasons.append(
                f"linked to {incident.id}: score {score:g} >= threshold {self.threshold:g}"
            )
            return TriageDecision(
                outcome=TriageOutcome.LINK_EXISTING,
                incident_id=incident.id,
                score=score,
                reasons=tuple(reasons),
            )
        if best is not None:
            reasons.append(
                f"best candidate {best[2].id} scored {best[0]:g}, below {self.threshold:g}"
            )
        elif not candidates:
            reasons.append(f"no open incident on {report.product}")
        decision = self._surge_or_troubleshoot(report, recent_reports, now, reasons)
        if decision.outcome is TriageOutcome.OPEN_NEW and fallback is not None:
            return self._prefer_open(report, fallback, decision)
        return decision

    def _prefer_open(
        self,
        report: CustomerReport,
        fallback: tuple[float, datetime, ServiceIncident],
        surge: TriageDecision,
    ) -> TriageDecision:
        """A surge links to an open incident on the product that its symptom does not
        contradict, rather than opening a duplicate beside it."""
        score, _, incident = fallback
        reasons = (
            *surge.reasons[:-1],
            f"surge: {int(surge.score)} distinct accounts reported {report.symptom.value} on "
            f"{report.product}, and open incident {incident.id} (score {score:g}) has a "
            f"compatible symptom: link to it rather than open a duplicate",
        )
        return TriageDecision(
            outcome=TriageOutcome.LINK_EXISTING,
            incident_id=incident.id,
            score=score,
            reasons=reasons,
        )

    def _score(
        self,
        report: CustomerReport,
        report_terms: frozenset[str],
        incident: ServiceIncident,
        reasons: list[str],
    ) -> tuple[float, bool] | None:
        """The candidate's score and whether anything in it is evidence about the problem
        (product and region are context); ``None`` if it is excluded."""
        if incident.status not in OPEN_STATUSES or report.product not in incident.products:
            return None
        if not regions_compatible(report.region, incident.region):
            reasons.append(
                f"{incident.id} excluded: region {incident.region} is not {report.region}"
            )
            return None
        if incident.detected_at - report.reported_at > self.grace:  # a difference never overflows
            reasons.append(
                f"{incident.id} excluded: the report predates it by more than {self.grace}"
            )
            return None
        score = self.product_weight
        parts = [f"same product {report.product}"]
        if report.region and report.region == incident.region:
            score += self.region_weight
            parts.append(f"same region {report.region}")
        kinds = frozenset(incident.signal_kinds)
        compatible = self.symptom_kinds.get(report.symptom, frozenset())
        evidence = False
        if report.symptom in incident.reported_symptoms and compatible:
            score += self.symptom_weight
            evidence = True
            parts.append(f"customers already report {report.symptom.value} on it")
        elif not kinds or not compatible:
            score += self.unknown_symptom_weight
            parts.append("nothing to compare the symptom with")
        elif kinds & compatible:
            score += self.symptom_weight
            evidence = True
            shown = ", ".join(sorted(k.value for k in kinds & compatible))
            parts.append(f"symptom {report.symptom.value} matches {shown} alerts")
        else:
            reasons.append(
                f"{incident.id} excluded: symptom {report.symptom.value} does not match its "
                f"{', '.join(sorted(k.value for k in kinds))} alerts"
            )
            return None
        about = f"{incident.title} {incident.summary or ''} {incident.last_public_update or ''}"
        shared = report_terms & terms(about)
        if shared:
            score += min(self.max_term_bonus, self.term_weight * len(shared))
            evidence = True
            parts.append(f"shared terms: {', '.join(sorted(shared)[:5])}")
        reasons.append(f"{incident.id} scores {score:g}: {'; '.join(parts)}")
        return score, evidence

    def _surge_or_troubleshoot(
        self,
        report: CustomerReport,
        recent_reports: Sequence[CustomerReport],
        now: datetime,
        reasons: list[str],
    ) -> TriageDecision:
        if report.symptom not in self.surge_symptoms:
            reasons.append(
                f"symptom {report.symptom.value} does not count towards a surge: troubleshoot"
            )
            return TriageDecision(outcome=TriageOutcome.TROUBLESHOOT, reasons=tuple(reasons))
        since = shifted_back(max(report.reported_at, now), self.surge_window)
        accounts = {report.account_id}
        for other in recent_reports:
            if (
                other.product == report.product
                and other.symptom is report.symptom
                and other.reported_at >= since
            ):
                accounts.add(other.account_id)
        reach = len(accounts)
        if reach < self.surge_accounts:
            reasons.append(
                f"{reach} account(s) reported {report.symptom.value} on {report.product} in the "
                f"last {self.surge_window}; a surge needs {self.surge_accounts}: troubleshoot"
            )
            return TriageDecision(
                outcome=TriageOutcome.TROUBLESHOOT, score=float(reach), reasons=tuple(reasons)
            )
        severity = next(
            (name for floor, name in sorted(self.reach_severity, reverse=True) if reach >= floor),
            self.reach_severity[-1][1],
        )
        if report.symptom is Symptom.UNAVAILABLE:
            severity = self.unavailable_bump.get(severity, severity)
        reasons.append(
            f"surge: {reach} distinct accounts reported {report.symptom.value} on "
            f"{report.product} within {self.surge_window}: open a new {severity} incident"
        )
        return TriageDecision(
            outcome=TriageOutcome.OPEN_NEW,
            severity=severity,
            score=float(reach),
            reasons=tuple(reasons),
        )
