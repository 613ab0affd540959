"""The shipped notifiers pass the notifier contract (``incident_lifecycle.testing.contracts``)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from incident_lifecycle.adapters import JsonLinesNotifier, RecordingNotifier
from incident_lifecycle.notifications import DeliveryResult, Notification
from incident_lifecycle.ports import Notifier
from incident_lifecycle.testing import FlakyNotifier
from incident_lifecycle.testing.contracts import NotifierContract


class TestRecordingNotifierContract(NotifierContract):
    """``RecordingNotifier`` keeps every promise of the notifier port."""

    def make_notifier(self) -> Notifier:
        return RecordingNotifier()


class TestJsonLinesNotifierContract(NotifierContract):
    """``JsonLinesNotifier`` keeps every promise of the notifier port, and writes what it sent."""

    def make_notifier(self) -> Notifier:
        folder = Path(tempfile.mkdtemp(prefix="jsonl-contract-"))
        return JsonLinesNotifier(folder / "sent.jsonl")

    def close_notifier(self, notifier: Notifier) -> None:
        assert isinstance(notifier, JsonLinesNotifier)
        if notifier.path.exists():  # every line written is a whole JSON document
            for line in notifier.path.read_text(encoding="utf-8").splitlines():
                assert isinstance(json.loads(line)["key"], str)
        shutil.rmtree(notifier.path.parent, ignore_errors=True)


class TestFlakyNotifierContract(NotifierContract):
    """``FlakyNotifier`` keeps the contract, throttling and partial failures included."""

    def make_notifier(self) -> Notifier:
        return FlakyNotifier(failure_rate=0.3, permanent_rate=0.1, seed=7)

    def make_throttled_notifier(self) -> Notifier | None:
        return FlakyNotifier(throttle=timedelta(seconds=30))

    def make_failing_notifier(self, recipients: frozenset[str]) -> Notifier | None:
        return FlakyNotifier(fail_recipients=recipients)


# -- the contract catches broken notifiers -----------------------------------------------------


class DropsTheLastResult(RecordingNotifier):
    """Answers for every notification but the last of each batch."""

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        return list(super().send(batch))[:-1]


class AnswersWithOtherKeys(RecordingNotifier):
    """Answers one result per notification, under keys it made up."""

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        return [DeliveryResult.delivered(f"{n.key}#copy") for n in super().send(batch)]


class AnswersTwice(RecordingNotifier):
    """Answers each notification twice."""

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        return [*super().send(batch), *super().send(batch)]


def _contract_on(make: Callable[[], Notifier]) -> NotifierContract:
    class Broken(NotifierContract):
        def make_notifier(self) -> Notifier:
            return make()

    return Broken()


@pytest.mark.parametrize("broken", [DropsTheLastResult, AnswersWithOtherKeys, AnswersTwice])
def test_the_contract_fails_a_notifier_with_wrong_answers(broken: Callable[[], Notifier]) -> None:
    """A notifier that drops, renames or repeats results fails the contract's checks."""
    contract = _contract_on(broken)
    with pytest.raises(AssertionError):
        contract.test_a_resent_key_is_accepted()
    with pytest.raises(AssertionError):
        contract.test_a_large_batch_to_one_recipient_is_answered_in_full()


@pytest.mark.parametrize("broken", [DropsTheLastResult, AnswersWithOtherKeys])
def test_the_relay_check_fails_a_notifier_that_leaves_a_notification_unanswered(
    broken: Callable[[], Notifier],
) -> None:
    """The relay check reports a notifier whose answers leave a notification without a verdict."""
    with pytest.raises(AssertionError):
        _contract_on(broken).test_a_relay_records_a_verdict_for_every_notification()


class OvertakesAfterAFailure(RecordingNotifier):
    """Fails the first message of each recipient in a batch and delivers the later ones."""

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        seen: set[str] = set()
        results = []
        for n in batch:
            first = n.recipient not in seen
            seen.add(n.recipient)
            results.append(
                DeliveryResult.retry(n.key) if first else DeliveryResult.delivered(n.key)
            )
        return results


class ThrottlesWithoutAWait(RecordingNotifier):
    """Answers throttled without saying for how long."""

    def send(self, batch: Sequence[Notification]) -> Sequence[DeliveryResult]:
        return [DeliveryResult.throttled(n.key, None) for n in batch]


@pytest.mark.parametrize("broken", [OvertakesAfterAFailure, ThrottlesWithoutAWait])
def test_the_contract_fails_a_notifier_breaking_order_or_throttling(
    broken: Callable[[], Notifier],
) -> None:
    """A notifier letting a later message overtake a failed one, or throttling without a
    retry-after, fails the order check."""
    with pytest.raises(AssertionError):
        _contract_on(broken).test_a_recipients_messages_keep_their_order()
