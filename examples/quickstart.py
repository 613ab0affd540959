"""The quickstart (docs/quickstart.md) as one script: python examples/quickstart.py"""

from datetime import UTC, datetime
from pathlib import Path

from incident_lifecycle import (
    Actor,
    AlertSignal,
    CustomerReport,
    DeliveryResult,
    IncidentDesk,
    Role,
    SQLiteStore,
)


class PrintNotifier:
    """Your helpdesk or chat integration: one result per notification, by key."""

    def send(self, batch):
        for note in batch:
            print(f"to {note.recipient}: {note.subject}")
        return [DeliveryResult.delivered(note.key) for note in batch]


# A fresh database for each run of this example (a service keeps its file, of course).
for leftover in ("quickstart.db", "quickstart.db-wal", "quickstart.db-shm"):
    Path(leftover).unlink(missing_ok=True)

desk = IncidentDesk(
    store=SQLiteStore("quickstart.db"),     # a file; InMemoryStore() for tests
    notifier=PrintNotifier(),
    ownership={"support": "support-eng"},   # product -> owning engineering team
)
now = datetime.now(UTC)
ana = Actor(name="ana", role=Role.ENGINEERING, team="support-eng")
sam = Actor(name="sam", role=Role.SUPPORT, team="tier1")

# Monitoring: an alert becomes a potential incident; its owner team validates it.
receipt = desk.receive_alert(AlertSignal(
    fingerprint="support/pod17/latency", product="support", kind="latency",
    summary="p99 latency above 2 s", observed_at=now, region="pod17"))
incident = desk.validate_incident(receipt.incident_id, ana, "SEV2")

# Support: a customer's report is triaged (here: linked to the incident).
result = desk.triage_report(CustomerReport(
    ticket_id="ZD-1001", account_id="acme", product="support", symptom="slow",
    summary="Pages take ten seconds to load", reported_at=now, region="pod17"), by=sam)

# Engineering: a public update goes to every linked ticket.
desk.post_update(incident.id, ana, "We are investigating slow page loads in pod 17.")

# Deliver the outbox through your notifier (call it from a loop or a scheduler).
report = desk.deliver()

# What happened: the report was linked, three messages went out, the timeline says who did what.
assert result.decision.outcome == "link_existing"
assert result.incident_id == incident.id
print(result.decision.reasons[-1])
assert report.delivered == 3 and report.pending == 0
assert desk.linked_tickets(incident.id) == ["ZD-1001"]
print([event.name for event in desk.timeline(incident.id)])
desk.store.close()
