"""Every status, phase and placeholder word a customer reads is in the customer's language."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import attrs
import pytest

from incident_lifecycle import (
    SEV2,
    CustomerReport,
    IncidentStatus,
    InvalidInput,
    ServiceIncident,
    Templates,
)
from incident_lifecycle.commands import Messages
from incident_lifecycle.commands.messages import incident_values
from incident_lifecycle.notifications import (
    CUSTOMER_TOPICS,
    DEFAULT_TEMPLATES,
    DEFAULT_WORDS,
    Topic,
)

T0 = datetime(2026, 5, 2, 14, 0, tzinfo=UTC)
ENGLISH = re.compile(
    r"\b(detected|investigating|identified|monitoring|resolved|closed|dismissed|merged|"
    r"unrated|none yet|all regions)\b"
)
CUSTOMER_STATUSES = [
    IncidentStatus.INVESTIGATING,
    IncidentStatus.IDENTIFIED,
    IncidentStatus.MONITORING,
    IncidentStatus.RESOLVED,
]
LOCALES = sorted(set(DEFAULT_TEMPLATES.catalogue) - {"en"})
INCIDENT = ServiceIncident(
    id="INC-7",
    title="Pages lentes",
    products=("support",),
    owner_team="support-eng",
    detected_at=T0,
    status=IncidentStatus.INVESTIGATING,
)


def _raw_catalogue() -> dict[str, dict[Topic, tuple[str, str]]]:
    return {
        locale: {topic: (subject.source, body.source) for topic, (subject, body) in m.items()}
        for locale, m in DEFAULT_TEMPLATES.catalogue.items()
    }


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("status", CUSTOMER_STATUSES, ids=lambda s: s.value)
@pytest.mark.parametrize("topic", sorted(CUSTOMER_TOPICS), ids=lambda t: t.value)
def test_customer_messages_carry_no_english_status_word(
    locale: str, status: IncidentStatus, topic: Topic
) -> None:
    """A customer message in a shipped locale names the status, the phase, an unrated
    severity, "none yet" and "all regions" in that locale's words."""
    values = incident_values(attrs.evolve(INCIDENT, status=status)) | {
        "body": "Corrigé.",
        "resolution": "Corrigé.",
    }

    subject, body = DEFAULT_TEMPLATES.render(
        topic, locale, Messages(DEFAULT_TEMPLATES).localised(values, locale)
    )

    assert ENGLISH.search(f"{subject} {body}") is None, (subject, body)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_shipped_locale_has_a_word_for_every_status(locale: str) -> None:
    """Each shipped locale other than English names every status in its own words."""
    words = DEFAULT_WORDS[locale]
    assert {s.value for s in IncidentStatus} <= set(words)
    assert {"unrated", "none yet", "all regions"} <= set(words)


def test_french_says_the_status_in_french() -> None:
    """The ticket-linked message in French reads "Statut actuel : en cours d'analyse"."""
    report = CustomerReport(
        ticket_id="ZD-1",
        account_id="acme",
        product="support",
        symptom="slow",
        summary="Lent",
        reported_at=T0,
        locale="fr-CA",
    )
    incident = attrs.evolve(INCIDENT, severity=SEV2)

    (note,) = Messages(DEFAULT_TEMPLATES).ticket_linked(report, incident, T0)

    assert "Statut actuel : en cours d'analyse" in note.body
    assert "aucune pour l'instant" in note.body


@pytest.mark.parametrize("bad", [{"fr": {"resolved": ""}}, {"fr": "résolu"}, "fr"])
def test_words_are_checked(bad: object) -> None:
    """A word table that is not one is InvalidInput naming ``words``."""
    with pytest.raises(InvalidInput) as caught:
        Templates(_raw_catalogue(), words=bad)  # type: ignore[arg-type]
    assert caught.value.field == "words"
