"""StatuspageNotifier and SlackNotifier against local servers implementing the documented
shapes of the Statuspage v1 incidents API and Slack incoming webhooks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from incident_lifecycle.adapters import InMemoryStore, SlackNotifier, StatuspageNotifier
from incident_lifecycle.adapters.slack import slack_escape
from incident_lifecycle.delivery import Relay, RetryPolicy
from incident_lifecycle.domain.errors import InvalidInput
from incident_lifecycle.notifications import (
    DeliveryStatus,
    Notification,
    StatusPageUpdate,
)
from incident_lifecycle.ports import Notifier
from incident_lifecycle.testing import FakeClock
from incident_lifecycle.testing.contracts import NotifierContract
from incident_lifecycle.testing.servers import Fault, SlackServer, StatuspageServer

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEY = "sp-secret-key"


def page_note(key: str, incident: str, phase: str, text: str = "Investigating.") -> Notification:
    page = StatusPageUpdate(
        title="Slow sign-in",
        phase=phase,
        impact="major",
        severity="SEV1",
        components=["support"],
        text=text,
    )
    return Notification(
        key=key,
        recipient=incident,
        recipient_kind="status_page",
        topic="resolution" if phase == "resolved" else "status_update",
        incident_id=incident,
        subject="Slow sign-in",
        body=page.to_body(),
        created_at=T0,
    )


def team_note(key: str, team: str, body: str = "Over to you.", minute: int = 0) -> Notification:
    return Notification(
        key=key,
        recipient=team,
        recipient_kind="team",
        topic="handoff",
        incident_id="INC-1",
        subject="Incident INC-1 handed off",
        body=body,
        created_at=T0 + timedelta(minutes=minute),
    )


@pytest.fixture
def page() -> Iterator[StatuspageServer]:
    with StatuspageServer("pg1", api_key=KEY).running() as server:
        yield server


def statuspage(server: StatuspageServer, **options: object) -> StatuspageNotifier:
    options.setdefault("per_second", 1000)
    return StatuspageNotifier(
        "pg1",
        KEY,
        components={"support": "cmp1"},
        base_url=server.url,
        **options,  # type: ignore[arg-type]
    )


class TestStatuspageNotifierContract(NotifierContract):
    """``StatuspageNotifier`` keeps the notifier contract."""

    max_examples = 10

    def make_notifier(self) -> Notifier:
        server = StatuspageServer("pg1", api_key=KEY).start()
        notifier = statuspage(server)
        notifier.server = server  # type: ignore[attr-defined]
        return notifier

    def close_notifier(self, notifier: Notifier) -> None:
        notifier.close()  # type: ignore[attr-defined]
        notifier.server.stop()  # type: ignore[attr-defined]

    def notification(self, key: str, n: int) -> Notification:
        return page_note(key, f"INC-{n}", "investigating")

    def make_throttled_notifier(self) -> Notifier | None:
        notifier = self.make_notifier()
        faults = (Fault("status", status=420, retry_after="2") for _ in range(50))
        notifier.server.faults.extend(faults)  # type: ignore[attr-defined]
        return notifier


def test_the_first_creates_later_ones_update(page: StatuspageServer) -> None:
    """One page incident per incident: created by the first notification, updated by the
    next ones with status, impact, body and component statuses; resolved sets operational."""
    notifier = statuspage(page)
    notes = [
        page_note("INC-1/UPD-1/status-page", "INC-1", "investigating", "Looking."),
        page_note("INC-1/UPD-2/status-page", "INC-1", "identified", "Found it."),
        page_note("INC-1/resolution/status-page", "INC-1", "resolved", "Fixed."),
    ]
    assert {r.status for r in notifier.send(notes)} == {DeliveryStatus.DELIVERED}
    (incident,) = page.incidents.values()
    assert (incident["name"], incident["status"], incident["impact"]) == (
        "Slow sign-in",
        "resolved",
        "major",
    )
    assert [u["body"] for u in incident["incident_updates"]] == ["Fixed.", "Found it.", "Looking."]
    assert incident["components"] == [{"id": "cmp1", "status": "operational"}]
    assert page.calls("POST") == 1


def test_a_crash_after_the_create_never_creates_a_second(page: StatuspageServer) -> None:
    """The create happens, the answer is lost (reset), the relay retries with a new
    notifier (a new process): it finds the page incident by its metadata, posts nothing
    twice, and the next update goes to the same page incident."""
    store = InMemoryStore()
    first = page_note("INC-7/UPD-1/status-page", "INC-7", "investigating")
    with store.transaction() as tx:
        tx.enqueue([first], T0)
    clock = FakeClock(T0)
    page.faults.append(Fault("reset", after_work=True, method="POST"))
    crashed = Relay(store, statuspage(page), clock, RetryPolicy(jitter=False)).deliver()
    assert crashed.delivered == 0
    assert len(page.incidents) == 1
    clock.advance(minutes=1)
    again = Relay(store, statuspage(page), clock).deliver()
    assert (again.delivered, again.batches) == (1, 0)
    notifier = statuspage(page)
    (result,) = notifier.send([page_note("INC-7/UPD-2/status-page", "INC-7", "monitoring")])
    assert result.status is DeliveryStatus.DELIVERED
    (incident,) = page.incidents.values()
    assert incident["status"] == "monitoring"
    assert len(incident["incident_updates"]) == 2


def test_failures_and_pacing(page: StatuspageServer) -> None:
    """A 420 or 429 throttles the page; a 422 is rejected with the API's message; a 5xx, a
    reset and a slow answer are retried; requests are paced to one per second."""
    waits: list[float] = []
    notifier = statuspage(page, per_second=1.0, read_timeout=0.3, sleep=waits.append)
    for fault, status in [
        (Fault("status", status=420, retry_after="3"), DeliveryStatus.THROTTLED),
        (Fault("status", status=500), DeliveryStatus.RETRY),
        (Fault("reset"), DeliveryStatus.RETRY),
        (Fault("slow", seconds=1.0), DeliveryStatus.RETRY),
    ]:
        page.faults.append(fault)
        (result,) = notifier.send([page_note(f"k-{fault.kind}", "INC-2", "investigating")])
        assert result.status is status, (fault.kind, result)
    bad = page_note("k-bad", "INC-3", "investigating").body.replace('"major"', '"severe"')
    note = page_note("k-bad", "INC-3", "investigating")
    (result,) = notifier.send([attrs.evolve(note, body=bad)])
    assert result.status is DeliveryStatus.REJECTED
    # Sleeping is recorded, not done: the n-th wait is the n-th one-second slot.
    assert waits
    assert all(abs(w - (k + 1)) < 0.3 for k, w in enumerate(waits))
    assert KEY not in repr(notifier)


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    channels = {"T0/B0/secret0": "#support-eng", "T0/B1/secret1": "#chat-eng"}
    with SlackServer(channels).running() as server:
        yield server


def slack_for(server: SlackServer, **options: object) -> SlackNotifier:
    hooks = {"support-eng": server.hook("#support-eng"), "chat-eng": server.hook("#chat-eng")}
    options.setdefault("sleep", lambda seconds: None)
    return SlackNotifier(hooks, **options)  # type: ignore[arg-type]


class TestSlackNotifierContract(NotifierContract):
    """``SlackNotifier`` keeps the notifier contract."""

    max_examples = 10

    def make_notifier(self) -> Notifier:
        server = SlackServer({f"T0/B{n}/s{n}": f"#t{n}" for n in range(10)}).start()
        notifier = SlackNotifier(
            {f"T-{n}": server.hook(f"#t{n}") for n in range(10)}, sleep=lambda s: None
        )
        notifier.server = server  # type: ignore[attr-defined]
        return notifier

    def close_notifier(self, notifier: Notifier) -> None:
        notifier.close()  # type: ignore[attr-defined]
        notifier.server.stop()  # type: ignore[attr-defined]

    def make_throttled_notifier(self) -> Notifier | None:
        notifier = self.make_notifier()
        faults = (Fault("status", status=429, retry_after="5") for _ in range(50))
        notifier.server.faults.extend(faults)  # type: ignore[attr-defined]
        return notifier

    def make_failing_notifier(self, recipients: frozenset[str]) -> Notifier | None:
        notifier = self.make_notifier()
        server = notifier.server  # type: ignore[attr-defined]
        server.failing.update(f"#t{r[2:]}" for r in recipients)
        return notifier


def test_one_digest_per_team_and_interval_escaped(slack: SlackServer) -> None:
    """A team's notifications of one interval are one message, in order, with ``&<>``
    escaped; a later interval is a second message; teams stay apart."""
    notifier = slack_for(slack)
    notes = [
        team_note("a1", "support-eng", "Check <!channel> & <https://evil.example|this>"),
        team_note("a2", "support-eng", "Second."),
        team_note("b1", "chat-eng", "Theirs."),
        team_note("a3", "support-eng", "Much later.", minute=30),
    ]
    assert {r.status for r in notifier.send(notes)} == {DeliveryStatus.DELIVERED}
    first, later = slack.messages["#support-eng"]
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|this&gt;" in first["text"]
    assert first["text"].index("Check") < first["text"].index("Second.")
    assert "<" not in first["text"].replace("&lt;", "")
    assert "Much later." in later["text"]
    assert [m["text"].count("Theirs.") for m in slack.messages["#chat-eng"]] == [1]
    assert slack_escape("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_slack_failures_and_pacing(slack: SlackServer) -> None:
    """429 throttles the webhook, 410 (archived) and 404 are rejected, 500 and a reset are
    retried; one message per second per webhook; the URL never shows."""
    waits: list[float] = []
    notifier = slack_for(slack, sleep=waits.append, read_timeout=0.3)
    slack.archived.add("#chat-eng")
    results = {r.key: r for r in notifier.send([team_note("c1", "chat-eng")])}
    assert results["c1"].status is DeliveryStatus.REJECTED
    assert "channel_is_archived" in results["c1"].error
    for n, (fault, status) in enumerate(
        [
            (Fault("status", status=429, retry_after="4"), DeliveryStatus.THROTTLED),
            (Fault("status", status=500), DeliveryStatus.RETRY),
            (Fault("reset"), DeliveryStatus.RETRY),
            (Fault("slow", seconds=1.0), DeliveryStatus.RETRY),
        ]
    ):
        slack.faults.append(fault)
        (result,) = notifier.send([team_note(f"s{n}", "support-eng", minute=10 * n)])
        assert result.status is status, (fault.kind, result)
        assert "secret0" not in result.error
    assert waits
    assert all(abs(w - (k + 1)) < 0.3 for k, w in enumerate(waits))
    assert "secret" not in repr(notifier)
    assert "secret" not in notifier.route(team_note("x", "support-eng"))
    with pytest.raises(InvalidInput, match="webhooks"):
        SlackNotifier({"t": "http://hooks.slack.com/services/x"})
