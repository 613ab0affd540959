"""``DefaultTriagePolicy`` and ``TriageDecision``: the pure triage rules, one by one.

No store, no desk: incidents and reports are built directly and handed to
``assess``, as the desk would. Scores are exact sums of the documented weights
(product 1, region 1.5, symptom 2, unknown symptom 0.5, 0.5 per shared term up
to 2; threshold 3), so each test can name the number it expects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_lifecycle import (
    SEV2,
    AlertKind,
    CustomerReport,
    IncidentStatus,
    InvalidInput,
    ServiceIncident,
    Symptom,
    TriageOutcome,
)
from incident_lifecycle.triage import (
    DEFAULT_SYMPTOM_KINDS,
    DefaultTriagePolicy,
    TriageDecision,
    TriagePolicy,
    terms,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
POLICY = DefaultTriagePolicy()
OPEN = (IncidentStatus.INVESTIGATING, IncidentStatus.IDENTIFIED, IncidentStatus.MONITORING)
NOT_OPEN = (
    IncidentStatus.DETECTED,
    IncidentStatus.RESOLVED,
    IncidentStatus.CLOSED,
    IncidentStatus.DISMISSED,
    IncidentStatus.MERGED,
)


def incident(
    incident_id: str = "INC-1",
    *,
    products: Sequence[str] = ("support",),
    region: str | None = "pod17",
    kinds: Sequence[AlertKind | str] = (AlertKind.LATENCY,),
    symptoms: Sequence[Symptom | str] = (),
    status: IncidentStatus = IncidentStatus.INVESTIGATING,
    detected_at: datetime = T0,
    opened_at: datetime | None = None,
    title: str = "Latency alarm",
    last_public_update: str | None = None,
) -> ServiceIncident:
    """An incident of ``support`` in pod17 with latency alerts, open since ``detected_at``."""
    validated = status not in (IncidentStatus.DETECTED, IncidentStatus.DISMISSED)
    resolved = status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED)
    return ServiceIncident(
        id=incident_id,
        title=title,
        products=products,
        owner_team="support-eng",
        detected_at=detected_at,
        region=region,
        signal_kinds=kinds,
        reported_symptoms=symptoms,
        severity=SEV2 if validated else None,
        status=status,
        opened_at=(opened_at or detected_at) if validated else None,
        resolved_at=detected_at + MINUTE if resolved else None,
        last_public_update=last_public_update,
    )


def report(
    ticket_id: str = "T-1",
    *,
    account_id: str = "acct-1",
    product: str = "support",
    symptom: Symptom | str = Symptom.SLOW,
    summary: str = "It is broken",
    reported_at: datetime = T0 + MINUTE,
    region: str | None = "pod17",
) -> CustomerReport:
    """A received report of ``support`` being slow in pod17, a minute after :data:`T0`."""
    return CustomerReport(
        ticket_id=ticket_id,
        account_id=account_id,
        product=product,
        symptom=symptom,
        summary=summary,
        reported_at=reported_at,
        region=region,
    )


def assess(
    subject: CustomerReport,
    candidates: Sequence[ServiceIncident] = (),
    recent: Sequence[CustomerReport] = (),
    now: datetime | None = None,
    policy: DefaultTriagePolicy = POLICY,
) -> TriageDecision:
    """``policy.assess`` at ``now`` (the report's time by default)."""
    return policy.assess(subject, list(candidates), list(recent), now or subject.reported_at)


def surge_reports(
    accounts: int,
    *,
    symptom: Symptom = Symptom.ERRORS,
    product: str = "support",
    at: datetime = T0,
    prefix: str = "R",
) -> list[CustomerReport]:
    """``accounts`` reports from as many distinct accounts, all at ``at``."""
    return [
        report(
            f"{prefix}-{n}",
            account_id=f"acct-{prefix}-{n}",
            product=product,
            symptom=symptom,
            reported_at=at,
        )
        for n in range(accounts)
    ]


# -- the product ----------------------------------------------------------------


def test_an_incident_of_the_same_product_in_the_same_region_with_matching_signals_links() -> None:
    """Product (1), region (1.5) and a matching symptom (2) score 4.5: the report is linked."""
    decision = assess(report(), [incident()])

    assert decision.outcome is TriageOutcome.LINK_EXISTING
    assert decision.incident_id == "INC-1"
    assert decision.score == 4.5
    assert decision.severity is None


def test_an_incident_of_another_product_is_never_a_candidate() -> None:
    """An otherwise perfect incident of another product is ignored: the report is troubleshot."""
    decision = assess(report(), [incident(products=("chat",))])

    assert decision.outcome is TriageOutcome.TROUBLESHOOT
    assert decision.incident_id is None


def test_an_incident_listing_the_product_among_others_is_a_candidate() -> None:
    """An incident affecting several products matches a report on any of them."""
    decision = assess(report(), [incident(products=("chat", "support", "talk"))])

    assert (decision.outcome, decision.incident_id) == (TriageOutcome.LINK_EXISTING, "INC-1")


@pytest.mark.parametrize("status", NOT_OPEN)
def test_an_incident_that_is_not_open_is_never_a_candidate(status: IncidentStatus) -> None:
    """Potential, resolved and final incidents are skipped even if the caller passes them."""
    decision = assess(report(), [incident(status=status)])

    assert decision.outcome is TriageOutcome.TROUBLESHOOT


@pytest.mark.parametrize("status", OPEN)
def test_every_open_phase_is_a_candidate(status: IncidentStatus) -> None:
    """Investigating, identified and monitoring incidents all take new reports."""
    decision = assess(report(), [incident(status=status)])

    assert decision.incident_id == "INC-1"


def test_with_no_open_incident_the_reasons_say_so() -> None:
    """Without candidates the reasons say there is no open incident on the product."""
    decision = assess(report(), [])

    assert decision.outcome is TriageOutcome.TROUBLESHOOT
    assert "no open incident on support" in decision.reasons


# -- the region -----------------------------------------------------------------


def test_the_same_region_adds_its_weight_and_says_so() -> None:
    """When both name the same region, the candidate gains 1.5 and the reason names it."""
    decision = assess(report(region="pod17"), [incident(region="pod17")])

    assert decision.score == 4.5
    assert any("same region pod17" in reason for reason in decision.reasons)


def test_different_regions_exclude_the_candidate_with_a_reason() -> None:
    """Two different regions exclude the candidate, and the reason says why."""
    decision = assess(report(region="pod1"), [incident(region="pod17")])

    assert decision.outcome is TriageOutcome.TROUBLESHOOT
    assert "INC-1 excluded: region pod17 is not pod1" in decision.reasons


@pytest.mark.parametrize(
    ("report_region", "incident_region"),
    [(None, "pod17"), ("pod17", None), (None, None)],
    ids=["report-without-region", "incident-without-region", "neither"],
)
def test_a_region_named_on_one_side_only_neither_adds_nor_excludes(
    report_region: str | None, incident_region: str | None
) -> None:
    """A region missing on either side is no evidence: 1 + 2 = 3, exactly the threshold."""
    decision = assess(report(region=report_region), [incident(region=incident_region)])

    assert (decision.outcome, decision.score) == (TriageOutcome.LINK_EXISTING, 3.0)
    assert not any("same region" in reason for reason in decision.reasons)


# -- the grace period -------------------------------------------------------------


def test_a_report_up_to_the_grace_period_before_the_incident_is_a_match() -> None:
    """A report filed exactly 30 minutes (the default grace) before detection may link."""
    early = report(reported_at=T0 - 30 * MINUTE)

    decision = assess(early, [incident(detected_at=T0)], now=T0 + MINUTE)

    assert decision.incident_id == "INC-1"


def test_a_report_older_than_the_grace_period_describes_something_else() -> None:
    """A report filed more than the grace before detection excludes the incident, with a reason."""
    early = report(reported_at=T0 - 30 * MINUTE - timedelta(seconds=1))

    decision = assess(early, [incident(detected_at=T0)], now=T0 + MINUTE)

    assert decision.outcome is TriageOutcome.TROUBLESHOOT
    assert "INC-1 excluded: the report predates it by more than 0:30:00" in decision.reasons


def test_the_grace_period_is_configurable() -> None:
    """With a two-hour grace, a report an hour before detection may link."""
    early = report(reported_at=T0 - 60 * MINUTE)
    policy = DefaultTriagePolicy(grace=timedelta(hours=2))

    decision = assess(early, [incident(detected_at=T0)], now=T0, policy=policy)

    assert decision.incident_id == "INC-1"


def test_a_report_long_after_the_incident_started_still_links() -> None:
    """The grace only bounds reports *before* the incident; later ones are its customers."""
    late = report(reported_at=T0 + timedelta(days=2))

    assert assess(late, [incident(detected_at=T0)]).incident_id == "INC-1"


# -- symptoms and signals -------------------------------------------------------------

_PAIRS = [
    (symptom, kind) for symptom in Symptom if symptom is not Symptom.OTHER for kind in AlertKind
]


@pytest.mark.parametrize(("symptom", "kind"), _PAIRS, ids=lambda v: str(v))
def test_symptom_and_signal_compatibility_follows_the_table(
    symptom: Symptom, kind: AlertKind
) -> None:
    """Compatible pairs (slow-latency, errors-error_rate, ...) add 2; others exclude."""
    decision = assess(report(symptom=symptom), [incident(kinds=[kind])])

    if kind in DEFAULT_SYMPTOM_KINDS[symptom]:
        assert (decision.incident_id, decision.score) == ("INC-1", 4.5)
        assert any(f"symptom {symptom.value} matches {kind.value}" in r for r in decision.reasons)
    else:
        assert decision.incident_id is None
        assert any(
            r.startswith("INC-1 excluded: symptom") and kind.value in r for r in decision.reasons
        )


def test_the_default_table_pairs_the_guides_signals() -> None:
    """slow <-> latency, errors <-> error rate, unavailable <-> error rate, other <-> nothing."""
    assert AlertKind.LATENCY in DEFAULT_SYMPTOM_KINDS[Symptom.SLOW]
    assert AlertKind.ERROR_RATE in DEFAULT_SYMPTOM_KINDS[Symptom.ERRORS]
    assert AlertKind.ERROR_RATE in DEFAULT_SYMPTOM_KINDS[Symptom.UNAVAILABLE]
    assert DEFAULT_SYMPTOM_KINDS[Symptom.OTHER] == frozenset()
    assert set(DEFAULT_SYMPTOM_KINDS) == set(Symptom)


def test_one_compatible_signal_among_others_is_enough() -> None:
    """An incident with error-rate and latency alerts matches a report of slowness."""
    decision = assess(report(), [incident(kinds=["error_rate", "latency"])])

    assert decision.score == 4.5


def test_an_incident_without_signals_scores_the_unknown_weight() -> None:
    """With nothing to compare (no alerts), the symptom adds 0.5 and excludes nothing; with
    no shared term either, nothing is evidence and the report is not linked."""
    decision = assess(report(), [incident(kinds=())])

    assert decision.reasons[0] == (
        "INC-1 scores 3: same product support; same region pod17; "
        "nothing to compare the symptom with"
    )
    assert "INC-1 not linked: no evidence about the problem" in decision.reasons[1]
    assert decision.outcome is TriageOutcome.TROUBLESHOOT


def test_shared_terms_are_evidence_for_an_incident_without_signals() -> None:
    """A word in common with the incident's title is evidence: the report links."""
    decision = assess(report(summary="Latency everywhere"), [incident(kinds=())])

    assert (decision.outcome, decision.incident_id, decision.score) == (
        TriageOutcome.LINK_EXISTING,
        "INC-1",
        3.5,
    )


def test_an_incidents_summary_counts_for_shared_terms() -> None:
    """Terms of what the incident's signals said (its summary) are evidence too."""
    declared = attrs.evolve(incident(kinds=()), summary="Checkout pages time out")
    decision = assess(report(summary="The checkout hangs"), [declared])

    assert decision.incident_id == "INC-1"
    assert "shared terms: checkout" in decision.reasons[0]


def test_customers_already_reporting_the_symptom_make_it_compatible() -> None:
    """Linked reports of the same symptom count as a match even against other alert kinds."""
    decision = assess(report(), [incident(kinds=["error_rate"], symptoms=["slow"])])

    assert (decision.incident_id, decision.score) == ("INC-1", 4.5)
    assert any("customers already report slow on it" in r for r in decision.reasons)


@pytest.mark.parametrize("kinds", [(), ("latency",), ("error_rate", "volume")])
@pytest.mark.parametrize("symptoms", [(), ("other",), ("slow",)])
def test_other_is_neutral(kinds: tuple[str, ...], symptoms: tuple[str, ...]) -> None:
    """``other`` neither matches nor excludes: it always adds the unknown weight (0.5), and
    is no evidence: a question with no shared term is never linked on product and region."""
    decision = assess(report(symptom="other"), [incident(kinds=kinds, symptoms=symptoms)])

    assert decision.reasons[0].startswith("INC-1 scores 3: ")
    assert decision.outcome is TriageOutcome.TROUBLESHOOT


def test_a_custom_symptom_table_is_honoured() -> None:
    """With ``symptom_kinds`` saying slow <-> volume, latency alerts no longer match slowness."""
    table = dict(DEFAULT_SYMPTOM_KINDS) | {Symptom.SLOW: frozenset({AlertKind.VOLUME})}
    policy = DefaultTriagePolicy(symptom_kinds=table)

    assert assess(report(), [incident(kinds=["latency"])], policy=policy).incident_id is None
    assert assess(report(), [incident(kinds=["volume"])], policy=policy).incident_id == "INC-1"


# -- shared terms -------------------------------------------------------------------


def test_each_shared_term_adds_half_a_point() -> None:
    """Three significant words shared with the title add 3 x 0.5 and are listed in the reasons."""
    subject = report(region=None, summary="Checkout payments failing")
    candidate = incident(region=None, kinds=(), title="Payments failing at checkout")

    decision = assess(subject, [candidate])

    assert decision.score == pytest.approx(1 + 0.5 + 1.5)
    assert any("shared terms: checkout, failing, payments" in r for r in decision.reasons)


def test_the_terms_bonus_is_capped() -> None:
    """Six shared words add the cap (2), not 3."""
    words = "alpha bravo charlie delta foxtrot hotel"
    decision = assess(report(summary=words), [incident(title=words.title())])

    assert decision.score == pytest.approx(4.5 + 2.0)


def test_terms_of_the_last_public_update_count() -> None:
    """Words of the incident's last public update are matched too."""
    candidate = incident(kinds=(), last_public_update="Webhooks delayed in Europe")
    subject = report(summary="Our webhooks arrive hours late")

    decision = assess(subject, [candidate])

    assert decision.score == pytest.approx(1 + 1.5 + 0.5 + 0.5)
    assert any("shared terms: webhooks" in r for r in decision.reasons)


def test_short_words_and_stop_words_are_not_terms() -> None:
    """Words under four letters and stop words (please, issue, problem, ...) share nothing."""
    subject = report(summary="Please fix this issue, the API has a problem")
    candidate = incident(title="Please, this issue: API problem")

    assert assess(subject, [candidate]).score == 4.5


def test_terms_match_regardless_of_case() -> None:
    """``CHECKOUT`` in the report and ``checkout`` in the title are one term."""
    decision = assess(report(summary="CHECKOUT"), [incident(title="checkout down")])

    assert decision.score == 5.0


# -- threshold and ties -------------------------------------------------------------


def test_a_score_equal_to_the_threshold_links() -> None:
    """A threshold of 4.5 links a candidate scoring exactly 4.5."""
    policy = DefaultTriagePolicy(threshold=4.5)

    decision = assess(report(), [incident()], policy=policy)

    assert decision.incident_id == "INC-1"
    assert "linked to INC-1: score 4.5 >= threshold 4.5" in decision.reasons


def test_a_score_below_the_threshold_does_not_link_and_says_why() -> None:
    """Below the threshold the best candidate is named with its score, and nothing is linked."""
    policy = DefaultTriagePolicy(threshold=4.6)

    decision = assess(report(), [incident()], policy=policy)

    assert decision.outcome is TriageOutcome.TROUBLESHOOT
    assert "best candidate INC-1 scored 4.5, below 4.6" in decision.reasons


def test_the_weights_are_configurable() -> None:
    """Custom weights change the score by exactly what they say."""
    policy = DefaultTriagePolicy(product_weight=2, region_weight=0, symptom_weight=5)

    assert assess(report(), [incident()], policy=policy).score == 7.0


def test_the_best_score_wins() -> None:
    """Of two candidates, the higher score is linked even when the other opened later."""
    strong = incident("INC-1", opened_at=T0)
    weak = incident("INC-2", region=None, opened_at=T0 + 10 * MINUTE)

    for candidates in ([strong, weak], [weak, strong]):
        decision = assess(report(reported_at=T0 + 20 * MINUTE), candidates)
        assert (decision.incident_id, decision.score) == ("INC-1", 4.5)


def test_ties_go_to_the_most_recently_opened_incident() -> None:
    """Two candidates with the same score: the one opened last wins, whatever the order given."""
    older = incident("INC-1", opened_at=T0)
    newer = incident("INC-2", opened_at=T0 + 5 * MINUTE)

    for candidates in ([older, newer], [newer, older]):
        decision = assess(report(reported_at=T0 + 20 * MINUTE), candidates)
        assert decision.incident_id == "INC-2"


def test_every_candidate_is_reasoned_about() -> None:
    """Each candidate gets a reason: its score and why, or why it was excluded."""
    candidates = [
        incident("INC-1"),
        incident("INC-2", region="pod1"),
        incident("INC-3", kinds=["error_rate"]),
    ]

    decision = assess(report(), candidates)

    text = "\n".join(decision.reasons)
    assert "INC-1 scores 4.5: same product support; same region pod17" in text
    assert "INC-2 excluded: region" in text
    assert "INC-3 excluded: symptom slow" in text


# -- the surge rule -------------------------------------------------------------------


def test_a_surge_of_distinct_accounts_proposes_a_new_incident() -> None:
    """Five distinct accounts (this one included) reporting errors within 15 minutes open one."""
    subject = report(symptom="errors", account_id="acct-me", reported_at=T0)
    decision = assess(subject, [], surge_reports(4, at=T0 - 5 * MINUTE))

    assert decision.outcome is TriageOutcome.OPEN_NEW
    assert (decision.severity, decision.score, decision.incident_id) == ("SEV3", 5.0, None)
    assert any(
        "surge: 5 distinct accounts reported errors on support" in r for r in decision.reasons
    )


def test_one_account_short_of_a_surge_is_troubleshooting() -> None:
    """Four distinct accounts are not a surge: troubleshoot, and the reasons count them."""
    subject = report(symptom="errors", account_id="acct-me", reported_at=T0)
    decision = assess(subject, [], surge_reports(3, at=T0))

    assert decision.outcome is TriageOutcome.TROUBLESHOOT
    assert decision.score == 4.0
    assert any("4 account(s) reported errors" in r and "needs 5" in r for r in decision.reasons)


def test_reports_from_one_account_count_once() -> None:
    """Twenty reports from the same account are one account, not a surge."""
    same = [
        report(f"R-{n}", account_id="acct-1", symptom="errors", reported_at=T0) for n in range(20)
    ]

    decision = assess(report(symptom="errors", account_id="acct-1", reported_at=T0), [], same)

    assert decision.outcome is TriageOutcome.TROUBLESHOOT
    assert decision.score == 1.0


def test_only_the_same_product_and_symptom_count_towards_a_surge() -> None:
    """Reports of another product or another symptom are not part of the surge."""
    noise = [
        *surge_reports(10, product="chat", prefix="C"),
        *surge_reports(10, symptom=Symptom.SLOW, prefix="S"),
    ]

    decision = assess(report(symptom="errors", reported_at=T0), [], noise)

    assert decision.outcome is TriageOutcome.TROUBLESHOOT


def test_the_surge_window_bounds_the_reports_that_count() -> None:
    """A report exactly 15 minutes old counts; one a second older does not."""
    now = T0 + 15 * MINUTE
    edge = surge_reports(3, at=T0, prefix="E")
    stale = report(
        "OLD", account_id="acct-old", symptom="errors", reported_at=T0 - 1 * timedelta(seconds=1)
    )
    subject = report(symptom="errors", account_id="acct-me", reported_at=now)

    assert assess(subject, [], [*edge, stale], now=now).outcome is TriageOutcome.TROUBLESHOOT
    fresh = report("NEW", account_id="acct-new", symptom="errors", reported_at=T0)
    assert assess(subject, [], [*edge, fresh], now=now).outcome is TriageOutcome.OPEN_NEW


def test_the_window_counts_back_from_now_when_the_report_is_older() -> None:
    """Triaging a report late looks back from ``now``, the later of the two times."""
    subject = report(symptom="errors", account_id="acct-me", reported_at=T0)
    recent = surge_reports(4, at=T0 + 20 * MINUTE)

    decision = assess(subject, [], recent, now=T0 + 30 * MINUTE)

    assert decision.outcome is TriageOutcome.OPEN_NEW


@pytest.mark.parametrize("symptom", list(Symptom))
def test_only_surge_symptoms_make_a_surge(symptom: Symptom) -> None:
    """``other`` never surges, however many accounts report it; the service symptoms do."""
    recent = surge_reports(50, symptom=symptom)
    subject = report(symptom=symptom, account_id="acct-me", reported_at=T0)

    decision = assess(subject, [], recent)

    expected = TriageOutcome.TROUBLESHOOT if symptom is Symptom.OTHER else TriageOutcome.OPEN_NEW
    assert decision.outcome is expected
    if symptom is Symptom.OTHER:
        assert any("does not count towards a surge" in r for r in decision.reasons)


def test_surge_settings_are_configurable() -> None:
    """``surge_accounts=2`` and ``surge_symptoms={slow}`` make two slow accounts a surge."""
    policy = DefaultTriagePolicy(surge_accounts=2, surge_symptoms=frozenset({Symptom.SLOW}))
    subject = report(account_id="acct-me", reported_at=T0, region=None)
    recent = surge_reports(1, symptom=Symptom.SLOW)

    assert assess(subject, [], recent, policy=policy).outcome is TriageOutcome.OPEN_NEW
    errors = report(symptom="errors", reported_at=T0)
    assert assess(errors, [], surge_reports(5), policy=policy).outcome is TriageOutcome.TROUBLESHOOT


@pytest.mark.parametrize(
    ("reach", "symptom", "severity"),
    [
        (5, Symptom.ERRORS, "SEV3"),
        (24, Symptom.ERRORS, "SEV3"),
        (25, Symptom.ERRORS, "SEV2"),
        (99, Symptom.SLOW, "SEV2"),
        (100, Symptom.DELAYED, "SEV1"),
        (5, Symptom.UNAVAILABLE, "SEV2"),
        (25, Symptom.UNAVAILABLE, "SEV1"),
        (100, Symptom.UNAVAILABLE, "SEV0"),
    ],
)
def test_the_severity_of_a_surge_comes_from_reach_and_symptom(
    reach: int, symptom: Symptom, severity: str
) -> None:
    """5+ accounts: SEV3, 25+: SEV2, 100+: SEV1; ``unavailable`` makes it one level worse."""
    subject = report(symptom=symptom, account_id="acct-me", reported_at=T0)

    decision = assess(subject, [], surge_reports(reach - 1, symptom=symptom))

    assert (decision.outcome, decision.severity, decision.score) == (
        TriageOutcome.OPEN_NEW,
        severity,
        float(reach),
    )


def test_reach_severity_and_bump_are_configurable() -> None:
    """Custom reach levels and bump map decide the proposed severity."""
    policy = DefaultTriagePolicy(
        surge_accounts=2,
        reach_severity=((3, "HIGH"), (0, "LOW")),
        unavailable_bump={"LOW": "HIGH"},
    )
    subject = report(symptom="errors", account_id="acct-me", reported_at=T0)

    assert assess(subject, [], surge_reports(1), policy=policy).severity == "LOW"
    assert assess(subject, [], surge_reports(2), policy=policy).severity == "HIGH"
    down = report(symptom="unavailable", account_id="acct-me", reported_at=T0)
    recent = surge_reports(1, symptom=Symptom.UNAVAILABLE)
    assert assess(down, [], recent, policy=policy).severity == "HIGH"


def test_a_match_wins_over_a_surge() -> None:
    """With a candidate above the threshold, a surge on the product still links."""
    subject = report(symptom="errors", account_id="acct-me", reported_at=T0)

    decision = assess(subject, [incident(kinds=["error_rate"])], surge_reports(50))

    assert decision.outcome is TriageOutcome.LINK_EXISTING


def test_a_surge_prefers_an_open_incident_its_symptom_does_not_contradict() -> None:
    """A surge beside an open incident of the product whose signals do not contradict the
    symptom links to it, with a reason, rather than opening a duplicate."""
    subject = report(symptom="errors", account_id="acct-me", reported_at=T0, region=None)
    weak = incident(kinds=(), region=None)

    decision = assess(subject, [weak], surge_reports(4))

    assert (decision.outcome, decision.incident_id) == (TriageOutcome.LINK_EXISTING, "INC-1")
    assert "open incident INC-1 (score 1.5) has a compatible symptom" in decision.reasons[-1]


def test_a_surge_opens_a_new_incident_when_every_candidate_is_excluded() -> None:
    """Candidates excluded (another region, contradicting signals) do not stop a surge."""
    subject = report(symptom="errors", account_id="acct-me", reported_at=T0, region="pod1")
    others = [incident(region="pod2"), incident("INC-2", kinds=("latency",), region=None)]

    decision = assess(subject, others, surge_reports(4))

    assert decision.outcome is TriageOutcome.OPEN_NEW
    assert decision.reasons[0] == "INC-1 excluded: region pod2 is not pod1"


# -- reasons --------------------------------------------------------------------------

_MACHINE_TEXT = ("Symptom.", "AlertKind.", "IncidentStatus.", "<", "object at", "datetime.")


@pytest.mark.parametrize(
    ("subject", "candidates", "recent"),
    [
        (report(), [incident()], []),
        (report(), [], []),
        (report(region="pod1"), [incident()], []),
        (report(symptom="other"), [], surge_reports(9, symptom=Symptom.OTHER)),
        (report(symptom="errors"), [], surge_reports(9)),
        (report(symptom="errors"), [incident(products=("chat",))], surge_reports(2)),
        (report(), [incident(status=IncidentStatus.RESOLVED)], []),
    ],
    ids=["link", "nothing", "excluded", "other", "surge", "other-product", "resolved-only"],
)
def test_every_decision_carries_human_readable_reasons(
    subject: CustomerReport, candidates: list[ServiceIncident], recent: list[CustomerReport]
) -> None:
    """Reasons are never empty, one line each, and free of reprs and enum names."""
    decision = assess(subject, candidates, recent)

    assert decision.reasons
    for reason in decision.reasons:
        assert isinstance(reason, str)
        assert reason.strip()
        assert "\n" not in reason
        assert not any(marker in reason for marker in _MACHINE_TEXT), reason


# -- configuration ----------------------------------------------------------------------

_WEIGHTS = (
    "threshold",
    "product_weight",
    "region_weight",
    "symptom_weight",
    "unknown_symptom_weight",
    "term_weight",
    "max_term_bonus",
)


@pytest.mark.parametrize("field", _WEIGHTS)
@pytest.mark.parametrize("value", [-0.5, math.nan, "3", None, True])
def test_weights_must_be_numbers_of_zero_or_more(field: str, value: object) -> None:
    """A negative, NaN, boolean or non-numeric weight is refused, naming the field."""
    with pytest.raises(InvalidInput) as caught:
        DefaultTriagePolicy(**{field: value})  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"grace": timedelta(seconds=-1)}, "grace"),
        ({"grace": 30}, "grace"),
        ({"surge_window": timedelta(minutes=-1)}, "surge_window"),
        ({"surge_window": "15m"}, "surge_window"),
        ({"surge_accounts": 0}, "surge_accounts"),
        ({"surge_accounts": 2.5}, "surge_accounts"),
        ({"surge_accounts": True}, "surge_accounts"),
        ({"reach_severity": ()}, "reach_severity"),
        ({"reach_severity": ((-1, "SEV3"),)}, "reach_severity"),
        ({"reach_severity": ((5, ""),)}, "severity"),
        ({"reach_severity": ((5, "S" * 33),)}, "severity"),
        ({"reach_severity": ((5,),)}, "reach_severity"),
        ({"reach_severity": "SEV1"}, "reach_severity"),
        ({"surge_symptoms": frozenset({"slwo"})}, "surge_symptoms"),
        ({"unavailable_bump": {"SEV3": ""}}, "unavailable_bump"),
    ],
)
def test_bad_configuration_is_refused_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    """Each invalid setting raises ``InvalidInput`` naming the setting, at construction."""
    with pytest.raises(InvalidInput) as caught:
        DefaultTriagePolicy(**kwargs)
    assert caught.value.field == field


def test_zero_weights_and_windows_are_allowed() -> None:
    """Zero is a valid weight, grace and window: that rule then counts for nothing."""
    policy = DefaultTriagePolicy(
        threshold=0, region_weight=0, grace=timedelta(0), surge_window=timedelta(0)
    )

    assert assess(report(), [incident(region=None)], policy=policy).incident_id == "INC-1"


def test_the_defaults_are_the_documented_numbers() -> None:
    """The defaults are the numbers docs/triage.md lists."""
    policy = DefaultTriagePolicy()

    assert (policy.threshold, policy.product_weight, policy.region_weight) == (3.0, 1.0, 1.5)
    assert (policy.symptom_weight, policy.unknown_symptom_weight) == (2.0, 0.5)
    assert (policy.term_weight, policy.max_term_bonus) == (0.5, 2.0)
    assert (policy.grace, policy.surge_window) == (30 * MINUTE, 15 * MINUTE)
    assert policy.surge_accounts == 5
    assert policy.surge_symptoms == frozenset(set(Symptom) - {Symptom.OTHER})
    assert policy.reach_severity == ((100, "SEV1"), (25, "SEV2"), (0, "SEV3"))
    assert dict(policy.unavailable_bump) == {"SEV1": "SEV0", "SEV2": "SEV1", "SEV3": "SEV2"}
    assert policy.lookback == policy.surge_window


def test_the_policy_is_frozen_and_implements_the_protocol() -> None:
    """A policy cannot be changed after construction and satisfies ``TriagePolicy``."""
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        POLICY.threshold = 1.0  # type: ignore[misc]
    assert isinstance(POLICY, TriagePolicy)


# -- TriageDecision ------------------------------------------------------------------------


def test_decision_factories_build_each_outcome() -> None:
    """``link``, ``open_new`` and ``troubleshoot`` fill the outcome and keep the reasons."""
    link = TriageDecision.link("INC-7", "same product", "same region")
    new = TriageDecision.open_new("SEV1", "surge")
    other = TriageDecision.troubleshoot("not an incident")

    assert (link.outcome, link.incident_id, link.reasons) == (
        TriageOutcome.LINK_EXISTING,
        "INC-7",
        ("same product", "same region"),
    )
    assert (new.outcome, new.severity, new.incident_id) == (TriageOutcome.OPEN_NEW, "SEV1", None)
    assert (other.outcome, other.incident_id, other.severity) == (
        TriageOutcome.TROUBLESHOOT,
        None,
        None,
    )


def test_decision_accepts_outcome_strings_and_reason_lists() -> None:
    """The outcome may be given by value and the reasons as a list: both are normalised."""
    decision = TriageDecision(outcome="troubleshoot", reasons=["a", "b"])

    assert decision.outcome is TriageOutcome.TROUBLESHOOT
    assert decision.reasons == ("a", "b")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"outcome": "link_existing"}, "incident_id"),
        ({"outcome": "open_new"}, "severity"),
        ({"outcome": "maybe"}, "outcome"),
        ({"outcome": "troubleshoot", "reasons": "because"}, "reasons"),
        ({"outcome": "troubleshoot", "reasons": [1]}, "reasons"),
        ({"outcome": "link_existing", "incident_id": ""}, "incident_id"),
        ({"outcome": "link_existing", "incident_id": "INC\n1"}, "incident_id"),
        ({"outcome": "open_new", "severity": "S" * 33}, "severity"),
    ],
)
def test_decision_invariants_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    """A link needs an incident, an opening a severity; bad values name their field."""
    with pytest.raises(InvalidInput) as caught:
        TriageDecision(**kwargs)
    assert caught.value.field == field


def test_decisions_are_frozen_values() -> None:
    """Decisions cannot be changed and compare by value."""
    decision = TriageDecision.link("INC-1", "why")

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        decision.incident_id = "INC-2"  # type: ignore[misc]
    assert decision == TriageDecision.link("INC-1", "why")
    assert hash(decision) == hash(TriageDecision.link("INC-1", "why"))


# -- properties ------------------------------------------------------------------------------

_PRODUCTS = ("support", "chat", "talk")
_REPORTED = ("support", "support", "chat")
"""Reports are mostly on ``support``, so that candidates often match."""
_REGIONS = (None, "pod1", "pod17")
_WORDS = ("checkout", "payments", "widget", "webhooks", "login", "europe", "slow", "pages")
_times = st.integers(-90, 90).map(lambda m: T0 + m * MINUTE)
_words = st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4).map(" ".join)


@st.composite
def _incidents(draw: st.DrawFn, incident_id: str) -> ServiceIncident:
    return incident(
        incident_id,
        products=draw(st.lists(st.sampled_from(_PRODUCTS), min_size=1, max_size=2, unique=True)),
        region=draw(st.sampled_from(_REGIONS)),
        kinds=draw(st.lists(st.sampled_from(list(AlertKind)), max_size=3, unique=True)),
        symptoms=draw(st.lists(st.sampled_from(list(Symptom)), max_size=2, unique=True)),
        status=draw(st.sampled_from(OPEN * 3 + NOT_OPEN)),
        detected_at=draw(_times) - 30 * MINUTE,
        opened_at=draw(st.one_of(st.none(), _times)),
        title=draw(_words),
        last_public_update=draw(st.one_of(st.none(), _words)),
    )


@st.composite
def _reports(draw: st.DrawFn, ticket_id: str) -> CustomerReport:
    return report(
        ticket_id,
        account_id=draw(st.sampled_from([f"acct-{n}" for n in range(8)])),
        product=draw(st.sampled_from(_REPORTED)),
        symptom=draw(st.sampled_from(list(Symptom))),
        summary=draw(_words),
        reported_at=draw(_times),
        region=draw(st.sampled_from(_REGIONS)),
    )


@st.composite
def _situations(
    draw: st.DrawFn,
) -> tuple[DefaultTriagePolicy, CustomerReport, list[ServiceIncident], list[CustomerReport]]:
    policy = DefaultTriagePolicy(
        threshold=draw(st.sampled_from([0.0, 2.0, 3.0, 4.5, 6.0])),
        surge_accounts=draw(st.integers(1, 6)),
    )
    count = draw(st.integers(0, 6))
    candidates = [draw(_incidents(f"INC-{n}")) for n in range(count)]
    recent = [draw(_reports(f"R-{n}")) for n in range(draw(st.integers(0, 10)))]
    return policy, draw(_reports("T-0")), candidates, recent


def _state(values: Sequence[object]) -> list[dict[str, Any]]:
    return [attrs.asdict(value, recurse=False) for value in values]  # type: ignore[arg-type]


@given(_situations(), _times)
def test_assess_is_deterministic_and_pure(
    situation: tuple[
        DefaultTriagePolicy, CustomerReport, list[ServiceIncident], list[CustomerReport]
    ],
    now: datetime,
) -> None:
    """The same inputs give the same decision, and assessing changes none of them."""
    policy, subject, candidates, recent = situation
    before = (_state([subject]), _state(candidates), _state(recent), [c.id for c in candidates])

    first = policy.assess(subject, candidates, recent, now)
    second = policy.assess(subject, candidates, recent, now)

    assert first == second
    assert (_state([subject]), _state(candidates), _state(recent), [c.id for c in candidates]) == (
        before
    )
    assert first.reasons


@given(_situations(), _times)
def test_a_link_only_ever_names_an_open_candidate_of_the_product(
    situation: tuple[
        DefaultTriagePolicy, CustomerReport, list[ServiceIncident], list[CustomerReport]
    ],
    now: datetime,
) -> None:
    """LINK_EXISTING names an open candidate of the report's product, at the threshold."""
    policy, subject, candidates, recent = situation

    decision = policy.assess(subject, candidates, recent, now)

    if decision.outcome is TriageOutcome.LINK_EXISTING:
        chosen = {c.id: c for c in candidates}[decision.incident_id or ""]
        assert chosen.status in OPEN
        assert subject.product in chosen.products
        assert decision.score >= policy.threshold or decision.reasons[-1].startswith("surge:")
        assert not (subject.region and chosen.region and subject.region != chosen.region)
    else:
        assert decision.incident_id is None
    if decision.outcome is TriageOutcome.OPEN_NEW:
        assert decision.severity in {"SEV0", "SEV1", "SEV2", "SEV3"}
        assert subject.symptom is not Symptom.OTHER


def _evidence(
    policy: DefaultTriagePolicy, subject: CustomerReport, chosen: ServiceIncident
) -> bool:
    """Whether something about the problem ties ``subject`` to ``chosen`` (not its product or
    region): a compatible symptom, or a term shared with its title, summary or last update."""
    compatible = policy.symptom_kinds.get(subject.symptom, frozenset())
    about = f"{chosen.title} {chosen.summary or ''} {chosen.last_public_update or ''}"
    return bool(
        (compatible & frozenset(chosen.signal_kinds))
        or (compatible and subject.symptom in chosen.reported_symptoms)
        or (terms(subject.summary) & terms(about))
    )


@given(_situations(), _times)
def test_no_link_without_evidence(
    situation: tuple[
        DefaultTriagePolicy, CustomerReport, list[ServiceIncident], list[CustomerReport]
    ],
    now: datetime,
) -> None:
    """A link has evidence about the problem, or is a surge preferring an open incident its
    symptom does not contradict; a question (``other``) is never linked without shared terms."""
    policy, subject, candidates, recent = situation

    decision = policy.assess(subject, candidates, recent, now)

    if decision.outcome is not TriageOutcome.LINK_EXISTING:
        return
    chosen = {c.id: c for c in candidates}[decision.incident_id or ""]
    surge = decision.reasons[-1].startswith("surge:")
    assert _evidence(policy, subject, chosen) or (
        surge and subject.symptom in policy.surge_symptoms
    )
    if subject.symptom is Symptom.OTHER:
        about = f"{chosen.title} {chosen.summary or ''} {chosen.last_public_update or ''}"
        assert terms(subject.summary) & terms(about)


@given(_situations(), _times)
def test_a_surge_never_opens_beside_a_compatible_open_incident(
    situation: tuple[
        DefaultTriagePolicy, CustomerReport, list[ServiceIncident], list[CustomerReport]
    ],
    now: datetime,
) -> None:
    """OPEN_NEW only when no open candidate of the product survives the exclusions (region,
    time, contradicting signals): otherwise the surge links to one of them."""
    policy, subject, candidates, recent = situation

    decision = policy.assess(subject, candidates, recent, now)

    if decision.outcome is TriageOutcome.OPEN_NEW:
        scored = [r for r in decision.reasons if " scores " in r and r.split(" ")[1] == "scores"]
        assert scored == []


@given(_situations(), st.lists(_incidents("OTHER-1"), max_size=1), _times)
def test_candidates_of_other_products_never_win(
    situation: tuple[
        DefaultTriagePolicy, CustomerReport, list[ServiceIncident], list[CustomerReport]
    ],
    extra: list[ServiceIncident],
    now: datetime,
) -> None:
    """Adding incidents of other products never changes the decision, and none is linked."""
    policy, subject, candidates, recent = situation
    others = [
        attrs.evolve(c, id=f"X{c.id}", products=tuple(p for p in _PRODUCTS if p != subject.product))
        for c in [*candidates, *extra]
    ]
    same = [c for c in candidates if subject.product in c.products]

    alone = policy.assess(subject, same, recent, now)
    mixed = policy.assess(subject, [*others, *same], recent, now)

    assert mixed.incident_id is None or not mixed.incident_id.startswith("X")
    assert (mixed.outcome, mixed.incident_id, mixed.severity, mixed.score) == (
        alone.outcome,
        alone.incident_id,
        alone.severity,
        alone.score,
    )
