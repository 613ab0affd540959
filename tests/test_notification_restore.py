"""``Notification.restore``: the public way to rebuild a notification from validated fields."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_lifecycle.notifications import FanOut, Notification
from incident_lifecycle.testing._contract_kit import any_fanouts, any_notifications


def fields_of(note: Notification) -> dict[str, object]:
    return {field.name: getattr(note, field.name) for field in attrs.fields(Notification)}


@given(any_notifications())
def test_restore_rebuilds_an_equal_notification(note: Notification) -> None:
    """Restoring a valid notification's fields gives an equal, equally hashed notification."""
    restored = Notification.restore(**fields_of(note))  # type: ignore[arg-type]
    assert type(restored) is Notification
    assert restored == note
    assert hash(restored) == hash(note)
    assert fields_of(restored) == fields_of(note)
    assert repr(restored) == repr(note)


@given(any_notifications(), st.sampled_from([f.name for f in attrs.fields(Notification)]))
def test_a_restored_notification_is_frozen(note: Notification, name: str) -> None:
    """A restored notification refuses assignment, like a constructed one."""
    restored = Notification.restore(**fields_of(note))  # type: ignore[arg-type]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(restored, name, getattr(note, name))


@given(any_fanouts())
def test_a_fanouts_notifications_are_the_validated_ones(fanout: FanOut) -> None:
    """Each notification of a fan-out equals the one the validating constructor builds."""
    for recipient in fanout.recipients:
        built = Notification(
            key=fanout.key_for(recipient),
            recipient=recipient,
            recipient_kind="ticket",
            topic=fanout.topic,
            incident_id=fanout.incident_id,
            subject=fanout.subject,
            body=fanout.body,
            created_at=fanout.created_at,
            locale=fanout.locale,
        )
        assert fanout.notification(recipient) == built


def test_restore_takes_keywords_only() -> None:
    """Fields are named: nine positional strings would be too easy to swap unvalidated."""
    with pytest.raises(TypeError):
        Notification.restore("k", "r")  # type: ignore[misc]
