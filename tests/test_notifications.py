"""Customer messages: safe templates, neutralised text, locales; reliability scenarios 16-18.

Scenarios 16 (internal-note leakage), 17 (format-string injection) and 18 (log
injection) of ``reliability-anchors.md`` section 6 are at the end, each named
after its number. The desk-level ones run on every store of
``desk_support.STORE_FACTORIES``.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
import unicodedata
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import desk_support as support
from desk_support import (
    IM,
    START,
    SUPPORT_AGENT,
    make_desk,
    open_incident,
    signal,
)
from incident_lifecycle import (
    CustomerReport,
    IncidentLifecycleError,
    IncidentStatus,
    InvalidInput,
    Symptom,
)
from incident_lifecycle.adapters import RecordingNotifier
from incident_lifecycle.adapters.notifiers import notification_to_dict
from incident_lifecycle.commands.messages import incident_values
from incident_lifecycle.delivery import RetryPolicy
from incident_lifecycle.desk import IncidentDesk
from incident_lifecycle.notifications import (
    DEFAULT_TEMPLATES,
    FIELD_MAX,
    DeliveryResult,
    MessageTemplate,
    Notification,
    Templates,
    Topic,
    neutralise,
    one_line,
)
from incident_lifecycle.ports import Store
from incident_lifecycle.testing import FakeClock
from incident_lifecycle.triage import TriageDecision

store_factory = support.store_factory
store = support.store
clock = support.clock
notifier = support.notifier
desk = support.desk

CORPUS = (
    "{0.__class__.__init__.__globals__}",
    "{x:>999999999}",
    "%(s)s",
    "${s}",
    "{{",
    "}}",
    "{status}",
    "{incident_id!r}",
    "{body[0]}",
    "%s%s%s%n",
    "{{status}}",
)
"""User text that a formatter would interpret; it must come out exactly as written."""

RAW_UNSAFE = ("\r", "\n", "\x1b", "\u2028", "\u2029", "\u202e", "\u202a", "\u2066", "\x85")
"""Characters that must never reach a message or a log line raw."""


def no_raw_unsafe(text: str) -> bool:
    """True if ``text`` holds none of :data:`RAW_UNSAFE`."""
    return not any(char in text for char in RAW_UNSAFE)


def values(**overrides: object) -> dict[str, object]:
    """Values for every placeholder of the shipped templates, ``overrides`` applied."""
    base: dict[str, object] = {
        name: f"<{name}>"
        for topic_map in DEFAULT_TEMPLATES.catalogue.values()
        for subject, body in topic_map.values()
        for name in subject.placeholders | body.placeholders
    }
    return base | overrides


# -- templates -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "Hello {user.name}",
        "Hello {0.__class__.__init__.__globals__}",
        "Hello {users[0]}",
        "Hello {user:>999999999}",
        "Hello {user!r}",
        "Hello {user!s:10}",
        "Hello {0}",
        "Hello {}",
        "Hello { user }",
        "Hello {User}",
        "Hello {user",
        "Hello user}",
        "Hello {{user}",
        "Hello {user}}",
        "Hello {a{b}}",
        "Hello {" + "x" * 42 + "}",
    ],
)
def test_templates_refuse_anything_but_bare_placeholders(source: str) -> None:
    """Attribute access, indexing, format specs, conversions and stray braces fail at build."""
    with pytest.raises(InvalidInput) as caught:
        MessageTemplate(source)
    assert caught.value.field == "template"


def test_a_template_lists_its_placeholders_and_keeps_literal_braces() -> None:
    """``{{`` and ``}}`` are literal braces; bare names are the placeholders."""
    template = MessageTemplate("{{status}} is {status} for {incident_id}; {{ {status} }}")

    assert template.placeholders == frozenset({"status", "incident_id"})
    assert template.render({"status": "ok", "incident_id": "INC-1"}) == (
        "{status} is ok for INC-1; { ok }"
    )


def test_rendering_needs_a_value_for_every_placeholder() -> None:
    """A missing value is refused naming ``template``, and the names are listed."""
    with pytest.raises(InvalidInput) as caught:
        MessageTemplate("{a} and {b}").render({"a": 1})
    assert caught.value.field == "template"
    assert "b" in caught.value.reason


def test_template_catalogues_are_validated_when_built() -> None:
    """A malicious template or an incomplete English catalogue is refused at construction."""
    english = {t: (s.source, b.source) for t, (s, b) in DEFAULT_TEMPLATES.catalogue["en"].items()}
    evil = english | {Topic.STATUS_UPDATE: ("Update", "{body.__class__}")}

    with pytest.raises(InvalidInput) as bad:
        Templates({"en": evil})
    with pytest.raises(InvalidInput) as incomplete:
        Templates({"en": {Topic.STATUS_UPDATE: ("Update", "{body}")}})
    assert (bad.value.field, incomplete.value.field) == ("template", "templates")


def test_the_shipped_templates_cover_every_topic_in_english_and_customers_in_french() -> None:
    """English has every topic; French has the three customer-facing ones."""
    assert set(DEFAULT_TEMPLATES.catalogue["en"]) == set(Topic)
    assert set(DEFAULT_TEMPLATES.catalogue["fr"]) == {
        Topic.TICKET_LINKED,
        Topic.STATUS_UPDATE,
        Topic.RESOLUTION,
    }


# -- single-pass rendering -------------------------------------------------------------


@pytest.mark.parametrize("text", CORPUS)
def test_user_text_comes_out_verbatim_never_formatted(text: str) -> None:
    """A value that looks like a format string is placed as it is, once."""
    template = MessageTemplate("Customer said: {text} ({status})")

    rendered = template.render({"text": text, "status": "investigating"})

    assert rendered == f"Customer said: {text} (investigating)"


def test_a_value_naming_another_placeholder_is_not_substituted_again() -> None:
    """Rendering is one pass: ``{b}`` inside the value of ``a`` stays ``{b}``."""
    assert MessageTemplate("{a}|{b}").render({"a": "{b}", "b": "B"}) == "{b}|B"


def test_values_are_converted_with_str_never_format() -> None:
    """A value object is shown by ``str()``: its ``__format__`` is never called."""

    class Sneaky:
        def __format__(self, spec: str) -> str:
            raise AssertionError("formatted")

        def __str__(self) -> str:
            return "plain"

    assert MessageTemplate("is {x}").render({"x": Sneaky()}) == "is plain"


@pytest.mark.parametrize("topic", list(Topic))
@pytest.mark.parametrize("locale", ["en", "fr"])
@pytest.mark.parametrize("text", CORPUS)
def test_every_shipped_template_places_the_corpus_verbatim(
    topic: Topic, locale: str, text: str
) -> None:
    """Whatever the topic and language, each user value appears in the output unchanged."""
    subject, body = DEFAULT_TEMPLATES.render(topic, locale, values(title=text, body=text))
    templates = DEFAULT_TEMPLATES.catalogue.get(locale, {}).get(topic)
    if templates is None:
        templates = DEFAULT_TEMPLATES.catalogue["en"][topic]
    subject_template, body_template = templates

    for template, output in ((subject_template, subject), (body_template, body)):
        if template.placeholders & {"title", "body"}:
            assert text in output
        assert "__globals__" not in output.replace(text, "")


# -- neutralised, capped text ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("line one\r\nline two", "line one  line two"),
        ("tab\there", "tab here"),
        ("red \x1b[31malert\x1b[0m", "red ?[31malert?[0m"),
        ("para\u2028graph\u2029end", "para graph end"),
        ("invoice\u202egnp.exe", "invoice?gnp.exe"),
        ("\u2066isolate\u2069 \u200emark\u200f \u202aembed\u202c", "?isolate? ?mark? ?embed?"),
        ("nul\x00 del\x7f c1\x85\x9b", "nul? del? c1??"),
        ("cafe\u0301", "caf\u00e9"),
    ],
)
def test_neutralise_removes_line_breaks_controls_and_bidi_overrides(raw: str, safe: str) -> None:
    """Line breaks become spaces; other controls, ANSI escapes and bidi controls become ``?``."""
    assert neutralise(raw) == safe
    assert MessageTemplate("> {x}").render({"x": raw}) == f"> {safe}"


def test_every_field_is_capped() -> None:
    """A value longer than the cap is cut to the cap, ending with an ellipsis."""
    rendered = MessageTemplate("{a}|{b}").render({"a": "x" * 50_000, "b": "short"})

    first, second = rendered.split("|")
    assert len(first) == FIELD_MAX
    assert first.endswith("…")
    assert second == "short"


def test_shipped_subjects_and_bodies_have_their_own_caps() -> None:
    """Subject fields are capped at 300 characters, body fields at 10,000."""
    alpha, beta, gamma = "\u03b1" * 50_000, "\u03b2" * 50_000, "\u03b3" * 50_000
    subject, _body = DEFAULT_TEMPLATES.render(
        Topic.STATUS_UPDATE, "en", values(incident_id=alpha, status=beta)
    )
    _subject, body = DEFAULT_TEMPLATES.render(
        Topic.TICKET_LINKED, "en", values(incident_id=alpha, title=beta, last_update=gamma)
    )

    assert subject == f"Update on service incident {alpha[:299]}…: {beta[:299]}…"
    assert (body.count("\u03b1"), body.count("\u03b2"), body.count("\u03b3")) == (9_999,) * 3


@given(st.text(), st.integers(0, 400))
def test_neutralised_text_is_one_line_and_within_its_limit(text: str, limit: int) -> None:
    """For any text, the result fits on one line and in ``limit`` characters."""
    out = neutralise(text, limit)

    assert len(out) <= limit
    assert len(out.splitlines()) <= 1
    assert no_raw_unsafe(out)


_SAFE_CHARS = st.characters(
    exclude_categories=("Cc", "Cs", "Zl", "Zp"),
    exclude_characters="\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
)


@given(st.text(_SAFE_CHARS, max_size=300))
def test_safe_text_within_the_limit_is_left_alone(text: str) -> None:
    """Text with nothing to neutralise (in NFC form, under the cap) is returned unchanged."""
    normal = unicodedata.normalize("NFC", text)

    assert neutralise(normal) == normal


# -- locales ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "language"),
    [
        ("en", "en"),
        ("en-GB", "en"),
        ("fr", "fr"),
        ("fr-CA", "fr"),
        ("fr_CA", "fr"),
        ("FR", "fr"),
        ("de", "en"),
        ("pt_BR", "en"),
        ("zz-Unknown", "en"),
    ],
)
def test_the_locale_chooses_the_language_and_unknown_ones_fall_back_to_english(
    locale: str, language: str
) -> None:
    """``fr-CA`` reads French, unknown locales read English."""
    subject, _body = DEFAULT_TEMPLATES.render(Topic.RESOLUTION, locale, values(incident_id="I-1"))

    expected = {
        "en": "Service incident I-1 is resolved",
        "fr": "L'incident de service I-1 est résolu",
    }
    assert subject == expected[language]


def test_team_topics_missing_in_french_fall_back_to_english() -> None:
    """A topic with no French template is rendered in English even for a French locale."""
    subject, _body = DEFAULT_TEMPLATES.render(Topic.HANDOFF, "fr", values(incident_id="I-1"))

    assert subject == "Incident I-1 handed off to <to_team>"


def test_the_desk_speaks_each_tickets_language(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """Linked tickets in fr-CA and in an unknown locale get French and English text."""
    incident_id = open_incident(desk)
    for ticket, locale in (("T-fr", "fr-CA"), ("T-xx", "xx")):
        desk.triage_report(
            CustomerReport(
                ticket_id=ticket,
                account_id=f"acct-{ticket}",
                product="support",
                symptom=Symptom.SLOW,
                summary="Slow pages",
                reported_at=START,
                region="pod17",
                locale=locale,
            ),
            SUPPORT_AGENT,
        )

    desk.resolve_incident(incident_id, IM, "Rollback done.")

    desk.deliver()
    subjects = {(n.recipient, n.topic): (n.subject, n.locale) for n in notifier.sent}
    assert subjects["T-fr", Topic.RESOLUTION] == (
        f"L'incident de service {incident_id} est résolu",
        "fr-CA",
    )
    assert subjects["T-xx", Topic.RESOLUTION][0] == f"Service incident {incident_id} is resolved"
    assert subjects["T-fr", Topic.TICKET_LINKED][0].startswith("Votre demande")


# -- one_line for log records ----------------------------------------------------------------


@given(st.text())
def test_a_log_line_built_with_one_line_stays_on_one_line(text: str) -> None:
    """A log record whose user text went through ``one_line`` formats to a single line."""
    record = logging.LogRecord(
        "incident_lifecycle",
        logging.INFO,
        __file__,
        1,
        "ticket %s: %s",
        (
            one_line("T-1"),
            one_line(text),
        ),
        None,
    )

    formatted = logging.Formatter("%(levelname)s %(name)s %(message)s").format(record)

    assert len(formatted.splitlines()) == 1
    assert no_raw_unsafe(formatted)
    assert len(one_line(text)) <= 300


# -- scenario 16: internal-note leakage ----------------------------------------------------

_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("link"), st.integers(0, 3)),
        st.tuples(st.just("public"), st.sampled_from([None, "identified", "monitoring"])),
        st.tuples(st.just("internal"), st.sampled_from([None, "identified", "monitoring"])),
        st.just(("resolve",)),
        st.just(("reopen",)),
        st.just(("severity",)),
        st.just(("hand_off",)),
    ),
    min_size=1,
    max_size=20,
)


def _everything_public(desk: IncidentDesk, incident_id: str) -> list[str]:
    """Every text a customer or the status page could see of an incident."""
    incident = desk.incident(incident_id)
    projection = incident_values(incident)
    texts = [json.dumps(projection, default=str), str(incident.last_public_update)]
    for topic in (Topic.TICKET_LINKED, Topic.STATUS_UPDATE, Topic.RESOLUTION):
        for locale in ("en", "fr"):
            rendered = DEFAULT_TEMPLATES.render(
                topic, locale, projection | {"body": "-", "resolution": "-"}
            )
            texts.extend(rendered)
    return texts


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=_STEPS, tag=st.uuids())
def test_scenario_16_internal_notes_never_leak(
    store_factory: Callable[[], Store], steps: list[tuple[Any, ...]], tag: object
) -> None:
    """Internal notes (sentinel SECRET-<uuid>) reach no payload, message, error or projection."""
    clock = FakeClock(START)
    recorder = RecordingNotifier()
    desk = make_desk(store_factory(), notifier=recorder, clock=clock)
    incident_id = open_incident(desk)
    secret = f"SECRET-{tag}"
    errors: list[str] = []
    for number, step in enumerate(steps):
        clock.advance(minutes=3)
        try:
            if step[0] == "link":
                desk.triage_report(
                    CustomerReport(
                        ticket_id=f"T-{number}",
                        account_id="acct-1",
                        product="support",
                        symptom="slow",
                        summary="Slow",
                        reported_at=clock.now(),
                        locale=("en", "fr", "fr-CA", "de")[step[1]],
                    ),
                    SUPPORT_AGENT,
                    decision=TriageDecision.link(incident_id, "agent"),
                )
            elif step[0] == "public":
                desk.post_update(incident_id, IM, f"Public {number}", "public", step[1])
            elif step[0] == "internal":
                desk.post_update(incident_id, IM, f"{secret} {number}", "internal", step[1])
            elif step[0] == "resolve":
                desk.resolve_incident(incident_id, IM, f"Resolved {number}")
            elif step[0] == "reopen":
                desk.reopen_incident(incident_id, IM, "It came back")
            elif step[0] == "severity":
                current = desk.incident(incident_id).severity
                level = "SEV1" if current is None or current.name != "SEV1" else "SEV3"
                desk.change_severity(incident_id, IM, level, reason="reach changed")
            else:
                owner = desk.incident(incident_id).owner_team
                other = "chat-eng" if owner != "chat-eng" else "support-eng"
                desk.hand_off(incident_id, IM, other, "Their area")
        except IncidentLifecycleError as error:
            errors.append(str(error))
    desk.deliver()

    payloads = [json.dumps(notification_to_dict(n), ensure_ascii=False) for n in recorder.sent]
    to_tickets = sum(n.recipient.startswith("T-") for n in recorder.sent)
    event(f"ticket notifications: {'none' if not to_tickets else 'some'}")
    event(f"internal notes: {sum(s[0] == 'internal' for s in steps) > 0}")
    for text in [*payloads, *errors, *_everything_public(desk, incident_id)]:
        assert "SECRET" not in text


def test_post_update_publishes_unless_told_otherwise(desk: IncidentDesk) -> None:
    """``post_update`` is public by default, as the desk's API promises; internal is explicit."""
    incident_id = open_incident(desk)

    public = desk.post_update(incident_id, IM, "Visible to customers")
    internal = desk.post_update(incident_id, IM, "Responders only", visibility="internal")

    assert (public.visibility.value, internal.visibility.value) == ("public", "internal")


def test_scenario_16_a_status_update_requires_an_explicit_visibility() -> None:
    """The domain's ``StatusUpdate`` has no default visibility: it must always be stated."""
    from incident_lifecycle import StatusUpdate

    with pytest.raises(TypeError):
        StatusUpdate(  # type: ignore[call-arg]
            id="UPD-1",
            incident_id="INC-1",
            body="No visibility given",
            status=IncidentStatus.INVESTIGATING,
            posted_at=START,
            author=IM,
        )


# -- scenario 17: format-string injection -----------------------------------------------------


@pytest.mark.parametrize("text", CORPUS)
def test_scenario_17_corpus_reaches_customers_verbatim(
    desk: IncidentDesk, notifier: RecordingNotifier, text: str
) -> None:
    """Titles, update bodies and resolutions from the corpus come out unchanged, never traversed."""
    incident_id = open_incident(desk)
    other = desk.declare_incident(IM, title=f"Title {text}", product="chat", severity="SEV2").id
    desk.triage_report(
        CustomerReport(
            ticket_id="T-1",
            account_id="acct-1",
            product="chat",
            symptom="errors",
            summary=f"Summary {text}",
            reported_at=START,
        ),
        SUPPORT_AGENT,
        decision=TriageDecision.link(other, "agent"),
    )
    desk.post_update(other, IM, f"Body {text}")
    desk.resolve_incident(other, IM, f"Resolution {text}")
    desk.post_update(incident_id, IM, "Unrelated.")

    desk.deliver()
    bodies = {n.topic: n for n in notifier.sent if n.recipient == "T-1"}
    assert f"Title {text}" in bodies[Topic.TICKET_LINKED].body
    assert bodies[Topic.STATUS_UPDATE].body == f"Body {text}"
    assert bodies[Topic.RESOLUTION].body == f"Resolution {text}"
    for note in notifier.sent:
        assert "__globals__" not in note.body.replace(text, "")
        assert "<function" not in note.body
        assert "<class" not in note.body


@pytest.mark.parametrize("text", CORPUS)
def test_scenario_17_rendering_is_fast_and_bounded(text: str) -> None:
    """Rendering hostile values takes under 10 ms, and the output is at most template + caps."""
    template = MessageTemplate("Update on {incident_id}: {body} ({status})")
    hostile = {"incident_id": text, "body": text * 5_000, "status": text}
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        output = template.render(hostile)
        timings.append(time.perf_counter() - started)

    assert statistics.median(timings) < 0.010
    assert len(output) <= len(template.source) + 3 * FIELD_MAX


def test_scenario_17_malicious_placeholders_are_rejected_at_load() -> None:
    """Every corpus entry used as a template is either refused or has only bare placeholders."""
    for text in CORPUS:
        try:
            template = MessageTemplate(text)
        except InvalidInput:
            continue
        assert all(name.isidentifier() for name in template.placeholders)
        assert template.render(dict.fromkeys(template.placeholders, "v")) is not None


# -- scenario 18: log injection ---------------------------------------------------------------

INJECTIONS = (
    "ok\r\nFAKE 2026-01-01 INFO approved",
    "colour \x1b[31mRED\x1b[0m",
    "para\u2028graph",
    "evil\u202etxt.exe",
)


class HostileNotifier:
    """Fails with error texts full of injections: a retry, then an exception, then delivers."""

    def __init__(self) -> None:
        self.calls = 0

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        """Answer retry with a hostile error, then raise one, then deliver everything."""
        self.calls += 1
        if self.calls == 1:
            return [DeliveryResult.retry(n.key, " | ".join(INJECTIONS)) for n in batch]
        if self.calls == 2:
            raise RuntimeError(" | ".join(INJECTIONS))
        if self.calls == 3:
            return [DeliveryResult.rejected(n.key, " | ".join(INJECTIONS)) for n in batch]
        return [DeliveryResult.delivered(n.key) for n in batch]


def test_scenario_18_recorded_errors_and_log_records_stay_on_one_line(
    store_factory: Callable[[], Store], caplog: pytest.LogCaptureFixture
) -> None:
    """Notifier errors, dead letters and every log record are one line without raw controls."""
    clock = FakeClock(START)
    hostile = HostileNotifier()
    retry = RetryPolicy(base=timedelta(seconds=1), cap=timedelta(seconds=4), jitter=False)
    desk = make_desk(store_factory(), notifier=hostile, clock=clock, retry=retry)
    caplog.set_level(logging.DEBUG)
    incident_id = open_incident(desk)
    desk.post_update(incident_id, IM, "SECRET-internal-body", visibility="internal")

    reports = []
    for _ in range(6):
        reports.append(desk.deliver())
        clock.advance(seconds=30)

    errors = [e for r in reports for e in r.errors]
    assert errors  # the raising notifier was reported
    dead = desk.dead_letters()
    assert dead  # the rejection was recorded
    recorded = [*errors, *(e.last_error for e in dead)]
    recorded += [
        e.error for e in desk.timeline(incident_id) if e.name == "NotificationDeadLettered"
    ]
    for text in recorded:
        assert no_raw_unsafe(text), repr(text)
        assert len(text.splitlines()) == 1
    assert any("FAKE 2026-01-01 INFO approved" in text for text in recorded)
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    for record in caplog.records:
        line = formatter.format(record)
        assert len(line.splitlines()) == 1
        assert no_raw_unsafe(line)
        if record.levelno >= logging.INFO:
            assert "SECRET" not in line


def test_scenario_18_user_text_in_team_messages_is_one_line(
    desk: IncidentDesk, notifier: RecordingNotifier
) -> None:
    """An alert summary with CR/LF, U+2028 and U+202E reaches the owner team neutralised."""
    summary = "disk full\r\nFAKE: validated by admin\u2028and\u202eevil"
    desk.receive_alert(signal("fp-evil", summary=summary))

    desk.deliver()
    (request,) = [n for n in notifier.sent if n.topic is Topic.VALIDATION_REQUEST]
    assert no_raw_unsafe(request.body)
    assert no_raw_unsafe(request.subject)
    assert "disk full  FAKE: validated by admin and?evil" in request.body


@pytest.mark.parametrize("text", INJECTIONS)
def test_scenario_18_one_line_neutralises_each_injection(text: str) -> None:
    """Each injection of the scenario comes out of ``one_line`` as one safe line."""
    out = one_line(text)

    assert no_raw_unsafe(out)
    assert len(out.splitlines()) == 1
