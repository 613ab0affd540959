"""ZendeskNotifier against a local server implementing Zendesk Support's documented shapes:
bulk updates, job statuses, tags, 429 with Retry-After, 5xx, slow answers, malformed bodies,
connection resets; and a relay process killed after Zendesk accepted a job."""

from __future__ import annotations

import base64
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from incident_lifecycle.adapters import SQLiteStore, ZendeskNotifier
from incident_lifecycle.adapters.zendesk import marker_tag
from incident_lifecycle.delivery import Relay, RetryPolicy
from incident_lifecycle.domain.errors import InvalidInput
from incident_lifecycle.notifications import (
    DeliveryResult,
    DeliveryStatus,
    FanOut,
    Notification,
)
from incident_lifecycle.ports import Notifier
from incident_lifecycle.testing import FakeClock
from incident_lifecycle.testing.contracts import NotifierContract
from incident_lifecycle.testing.servers import Fault, ZendeskServer

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOKEN = "zd-secret-token"
EMAIL = "ops@example.com"
SRC = Path(__file__).resolve().parents[1] / "src"


def ticket_note(key: str, ticket: int | str, topic: str = "status_update") -> Notification:
    return Notification(
        key=key,
        recipient=str(ticket),
        recipient_kind="ticket",
        topic=topic,
        incident_id="INC-1",
        subject="Update on service incident INC-1",
        body=f"Text of {key}.",
        created_at=T0,
    )


def fanout(
    tickets: Sequence[int], prefix: str = "INC-1/UPD-1", topic: str = "status_update"
) -> list[Notification]:
    return FanOut(
        key_prefix=prefix,
        recipients=[str(t) for t in tickets],
        topic=topic,
        incident_id="INC-1",
        subject="Update on service incident INC-1",
        body="We are investigating.",
        created_at=T0,
    ).notifications()


@pytest.fixture
def server() -> Iterator[ZendeskServer]:
    zendesk = ZendeskServer(tickets=300, email=EMAIL, token=TOKEN)
    zendesk.start()
    yield zendesk
    zendesk.stop()


def notifier_for(server: ZendeskServer, **options: object) -> ZendeskNotifier:
    options.setdefault("poll_interval", 0.01)
    options.setdefault("read_timeout", 2.0)
    return ZendeskNotifier(server.url, email=EMAIL, api_token=TOKEN, **options)  # type: ignore[arg-type]


def answer(notifier: ZendeskNotifier, batch: Sequence[Notification]) -> dict[str, DeliveryResult]:
    return {result.key: result for result in notifier.send(batch)}


class TestZendeskNotifierContract(NotifierContract):
    """``ZendeskNotifier`` keeps the notifier contract against the local Zendesk."""

    max_examples = 10

    def make_notifier(self) -> Notifier:
        zendesk = ZendeskServer(tickets=list(range(1000, 1010)), email=EMAIL, token=TOKEN)
        notifier = notifier_for(zendesk.start())  # type: ignore[arg-type]
        notifier.server = zendesk  # type: ignore[attr-defined]
        return notifier

    def close_notifier(self, notifier: Notifier) -> None:
        notifier.close()  # type: ignore[attr-defined]
        notifier.server.stop()  # type: ignore[attr-defined]

    def notification(self, key: str, n: int) -> Notification:
        return ticket_note(key, 1000 + n % 10)

    def make_throttled_notifier(self) -> Notifier | None:
        notifier = self.make_notifier()
        faults = (Fault("status", status=429, retry_after="30") for _ in range(50))
        notifier.server.faults.extend(faults)  # type: ignore[attr-defined]
        return notifier


def test_a_fanout_goes_in_bulk_with_one_poll(server: ZendeskServer) -> None:
    """250 tickets, one message: three bulk updates (100, 100, 50) and one poll of the three
    jobs; each ticket gets one public comment and the message's marker tag."""
    notes = fanout(range(1, 251))
    notifier = notifier_for(server)
    results = answer(notifier, notes)
    assert {r.status for r in results.values()} == {DeliveryStatus.DELIVERED}
    assert server.calls("PUT", "/api/v2/tickets/update_many.json") == 3
    assert server.calls("GET", "/api/v2/job_statuses/show_many.json") == 1
    assert notifier.calls == 4
    for ticket in (1, 100, 250):
        assert server.comments[ticket] == [
            {"body": "Update on service incident INC-1\n\nWe are investigating.", "public": True}
        ]
        assert server.tickets[ticket]["tags"] == [marker_tag(notes[0])]
    assert server.comments[251] == []


def test_a_tickets_messages_go_in_order_and_stop_at_a_failure(server: ZendeskServer) -> None:
    """Three messages to one ticket in a batch are posted in order; after one fails, the
    later ones are held, not posted."""
    notes = [ticket_note(f"INC-1/UPD-{n}/7", 7) for n in range(3)]
    notifier = notifier_for(server)
    assert {r.status for r in answer(notifier, notes).values()} == {DeliveryStatus.DELIVERED}
    assert [c["body"].rsplit(" ", 1)[-1] for c in server.comments[7]] == [
        f"INC-1/UPD-{n}/7." for n in range(3)
    ]
    later = [ticket_note(f"INC-1/UPD-{n}/8", 8) for n in range(3)]
    server.faults.append(Fault("status", status=502))
    results = answer(notifier, later)
    assert [results[n.key].status for n in later] == [DeliveryStatus.RETRY] * 3
    assert server.comments[8] == []


def test_a_ticket_status_per_topic_and_problem_mode(server: ZendeskServer) -> None:
    """``statuses`` sets a status per topic; in problem mode a linked ticket becomes an
    incident of the problem and the resolution is posted once, on the problem."""
    notifier = notifier_for(
        server, statuses={"ticket_linked": "pending"}, problem_tickets={"INC-1": 300}.get
    )
    linked = [ticket_note(f"INC-1/link/v1/{t}", t, "ticket_linked") for t in (1, 2)]
    assert {r.status for r in answer(notifier, linked).values()} == {DeliveryStatus.DELIVERED}
    assert server.tickets[1] | {"tags": []} == {
        "id": 1,
        "status": "pending",
        "tags": [],
        "type": "incident",
        "problem_id": 300,
    }
    resolved = fanout([1, 2], "INC-1/resolution", "resolution")
    assert {r.status for r in answer(notifier, resolved).values()} == {DeliveryStatus.DELIVERED}
    assert len(server.comments[300]) == 1
    assert server.tickets[300]["status"] == "solved"
    assert [len(server.comments[t]) for t in (1, 2)] == [1, 1]  # the link comment only


def test_failures_are_mapped(server: ZendeskServer) -> None:
    """A ticket the job refuses is rejected with Zendesk's message; a 5xx, a malformed
    body, a reset, an answer slower than the timeout and a failed job are retried; a
    recipient that is not a ticket id is rejected without a call."""
    notifier = notifier_for(server, read_timeout=0.3, poll_timeout=2.0)
    server.fail_tickets[5] = "PermissionDenied: the ticket is closed"
    results = answer(notifier, [*fanout([4, 5]), ticket_note("k-x", "ZD-9")])
    assert results["INC-1/UPD-1/4"].status is DeliveryStatus.DELIVERED
    assert results["INC-1/UPD-1/5"].status is DeliveryStatus.REJECTED
    assert "PermissionDenied: the ticket is closed" in results["INC-1/UPD-1/5"].error
    assert results["k-x"].status is DeliveryStatus.REJECTED
    for fault, text in [
        (Fault("status", status=503), "503"),
        (Fault("malformed"), "no JSON"),
        (Fault("reset"), "outcome unknown"),
        (Fault("slow", seconds=1.0), "outcome unknown"),
    ]:
        server.faults.append(fault)
        (result,) = notifier.send(fanout([9], prefix=f"INC-1/{fault.kind}"))
        assert result.status is DeliveryStatus.RETRY, fault.kind
        assert text in result.error, (fault.kind, result.error)
    server.fail_jobs = 1
    (result,) = notifier.send(fanout([10], prefix="INC-1/job"))
    assert result.status is DeliveryStatus.RETRY
    assert "failed" in result.error


def test_a_429_throttles_the_account(server: ZendeskServer) -> None:
    """A 429's Retry-After pauses the whole account: nothing of the batch is posted, every
    notification is answered throttled with that wait, and a relay counts no attempt."""
    server.faults.append(Fault("status", status=429, retry_after="7"))
    notifier = notifier_for(server)
    results = answer(notifier, fanout(range(1, 151)))
    assert {r.status for r in results.values()} == {DeliveryStatus.THROTTLED}
    assert {r.retry_after for r in results.values()} == {timedelta(seconds=7)}
    assert sum(len(c) for c in server.comments.values()) == 0


def test_a_job_that_never_finishes_is_outcome_unknown(server: ZendeskServer) -> None:
    """A job still working at ``poll_timeout`` is retried, and the retry finds the marker
    of the update that did happen: no second comment."""
    server.polls_before_done = 1_000
    notifier = notifier_for(server, poll_timeout=0.2)
    store_notes = fanout([11, 12])
    results = answer(notifier, store_notes)
    assert {r.status for r in results.values()} == {DeliveryStatus.RETRY}
    assert sorted(notifier.already_delivered(store_notes)) == sorted(n.key for n in store_notes)
    assert [len(server.comments[t]) for t in (11, 12)] == [1, 1]


def test_a_relay_never_posts_twice_after_an_unknown_outcome(
    server: ZendeskServer, tmp_path: Path
) -> None:
    """A reset after Zendesk accepted the job leaves the outcome unknown; the relay's next
    attempt asks the ticket for the marker and records the delivery without re-posting."""
    store = SQLiteStore(tmp_path / "desk.db")
    with store.transaction() as tx:
        tx.enqueue(fanout([21, 22, 23]), T0)
    clock = FakeClock(T0)
    relay = Relay(store, notifier_for(server), clock, RetryPolicy(jitter=False), seed=1)
    server.faults.append(Fault("reset", after_work=True))
    first = relay.deliver()
    assert (first.delivered, first.retried) == (0, 3)
    clock.advance(minutes=1)
    second = relay.deliver()
    assert (second.delivered, second.pending, second.batches) == (3, 0, 0)
    assert [len(server.comments[t]) for t in (21, 22, 23)] == [1, 1, 1]


CRASHING_RELAY = """
import sys
from datetime import timedelta
from incident_lifecycle.adapters import SQLiteStore, ZendeskNotifier
from incident_lifecycle.delivery import Relay, RetryPolicy
from incident_lifecycle.ports import SystemClock

store = SQLiteStore(sys.argv[1])
notifier = ZendeskNotifier(sys.argv[2], email=sys.argv[3], api_token=sys.argv[4],
                           poll_interval=0.05, read_timeout=60)
relay = Relay(store, notifier, SystemClock(), RetryPolicy(lease=timedelta(seconds=1)))
print("relay starts", flush=True)
relay.deliver(batch_size=1000)
print("relay finished", flush=True)
"""


def test_a_relay_process_killed_after_zendesk_accepted_posts_every_message_once(
    server: ZendeskServer, tmp_path: Path
) -> None:
    """A relay process is killed while Zendesk holds its accepted jobs (the poll never
    answers); another relay takes the batch once the lease ends: every ticket ends with
    each message once, in order."""
    path = tmp_path / "desk.db"
    store = SQLiteStore(path)
    tickets = list(range(31, 181))
    with store.transaction() as tx:
        tx.enqueue(fanout(tickets, "INC-1/UPD-1"), T0)
        tx.enqueue(fanout(tickets, "INC-1/UPD-2"), T0)
    server.faults.append(Fault("hang", seconds=30, path="/api/v2/job_statuses"))
    env = dict(os.environ, PYTHONPATH=str(SRC))
    process = subprocess.Popen(
        [sys.executable, "-c", CRASHING_RELAY, str(path), server.url, EMAIL, TOKEN],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.calls("PUT") < 2:
            time.sleep(0.02)
        assert server.calls("PUT") == 2  # both bulk jobs accepted (first message, 150 tickets)
        time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    server.released.set()  # the hung poll is let go
    time.sleep(1.1)  # the dead relay's lease ends
    relay = Relay(SQLiteStore(path), notifier_for(server), FakeClock(datetime.now(UTC)))
    report = relay.deliver(batch_size=1000)
    assert report.pending == 0
    for ticket in tickets:
        bodies = [c["body"] for c in server.comments[ticket]]
        assert len(bodies) == 2
    assert server.comments[31][0] == server.comments[180][0]


def test_credentials_never_show(server: ZendeskServer, caplog: pytest.LogCaptureFixture) -> None:
    """The token (and its Basic form) appears in no error, no log line, no repr."""
    caplog.set_level(logging.DEBUG)
    basic = base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
    notifier = notifier_for(server, read_timeout=0.2)
    texts = [repr(notifier)]
    for fault in (Fault("status", status=500), Fault("slow", seconds=1), Fault("reset")):
        server.faults.append(fault)
        texts += [r.error for r in notifier.send(fanout([1], prefix=f"INC-1/{fault.kind}"))]
    wrong = ZendeskNotifier(server.url, email=EMAIL, api_token="other-token", poll_interval=0)
    texts += [r.error for r in wrong.send(fanout([2]))]
    texts.append(caplog.text)
    assert all(TOKEN not in t and basic not in t and "other-token" not in t for t in texts)
    assert server.seen_auth[0] == f"Basic {basic}"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"base_url": "http://example.zendesk.com"}, "base_url"),
        ({"base_url": "https://a:b@example.zendesk.com"}, "base_url"),
        ({"statuses": {"resolution": "done"}}, "statuses"),
        ({"statuses": {"nope": "solved"}}, "statuses"),
        ({"api_token": ""}, "api_token"),
        ({"read_timeout": 0}, "read_timeout"),
        ({"connect_timeout": float("nan")}, "connect_timeout"),
        ({"requests_per_minute": -1}, "requests_per_minute"),
    ],
)
def test_bad_configuration_names_the_field(options: dict[str, object], field: str) -> None:
    """A setting that cannot work raises ``InvalidInput`` naming it."""
    settings: dict[str, object] = {
        "base_url": "https://example.zendesk.com",
        "email": EMAIL,
        "api_token": TOKEN,
    } | options
    with pytest.raises(InvalidInput) as caught:
        ZendeskNotifier(**settings)  # type: ignore[arg-type]
    assert caught.value.field == field
