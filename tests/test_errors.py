"""The exception hierarchy: one root, natural built-in bases, data carried on each error."""

from __future__ import annotations

import pytest

from incident_lifecycle.domain import errors
from incident_lifecycle.domain.errors import (
    ConcurrencyConflict,
    DecodeError,
    DeliveryError,
    IncidentLifecycleError,
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotPermitted,
    StoreError,
)

LEAVES = [
    ConcurrencyConflict,
    DecodeError,
    DeliveryError,
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotPermitted,
    StoreError,
]


class TestHierarchy:
    @pytest.mark.parametrize("error", LEAVES, ids=lambda e: e.__name__)
    def test_every_error_derives_from_the_root(self, error: type[Exception]) -> None:
        """Every error of the library can be caught as ``IncidentLifecycleError``."""
        assert issubclass(error, IncidentLifecycleError)

    def test_module_exports_every_error(self) -> None:
        """The module's ``__all__`` lists the root and every leaf, sorted."""
        assert errors.__all__ == sorted(e.__name__ for e in [IncidentLifecycleError, *LEAVES])

    @pytest.mark.parametrize(
        ("error", "builtin"),
        [(InvalidInput, ValueError), (NotFound, LookupError), (DecodeError, ValueError)],
        ids=lambda e: e.__name__,
    )
    def test_leaves_subclass_the_natural_builtin(
        self, error: type[Exception], builtin: type[Exception]
    ) -> None:
        """Callers catching the natural built-in also catch the library's error."""
        assert issubclass(error, builtin)

    def test_decode_error_is_a_store_error(self) -> None:
        """A stored row that cannot be decoded is a store failure."""
        assert issubclass(DecodeError, StoreError)

    def test_invalid_input_is_caught_as_value_error(self) -> None:
        """``InvalidInput`` raised by the library is caught by ``except ValueError``."""
        with pytest.raises(ValueError, match="field"):
            raise InvalidInput("field", "is wrong")


class TestMessages:
    def test_invalid_input_names_the_field(self) -> None:
        """``InvalidInput`` carries the field and the reason and shows both."""
        error = InvalidInput("fingerprint", "must not be empty")
        assert (error.field, error.reason) == ("fingerprint", "must not be empty")
        assert str(error) == "fingerprint: must not be empty"

    def test_not_found_names_kind_and_key(self) -> None:
        """``NotFound`` says which kind of entity is missing and under which key."""
        error = NotFound("incident", "INC-7")
        assert (error.kind, error.key) == ("incident", "INC-7")
        assert str(error) == "No incident 'INC-7'."

    def test_invalid_transition_names_the_state(self) -> None:
        """``InvalidTransition`` reads like the guide: event, entity and current status."""
        error = InvalidTransition("incident", "INC-7", "resolve", "detected")
        assert (error.kind, error.entity_id, error.event, error.status) == (
            "incident",
            "INC-7",
            "resolve",
            "detected",
        )
        assert str(error) == "Can't resolve incident INC-7 while detected."

    def test_not_permitted_names_actor_action_and_reason(self) -> None:
        """``NotPermitted`` says who may not do what, and why."""
        error = NotPermitted("ana (support)", "resolve an incident", "only engineering may")
        assert (error.actor, error.action, error.reason) == (
            "ana (support)",
            "resolve an incident",
            "only engineering may",
        )
        assert str(error) == "ana (support) may not resolve an incident: only engineering may"

    def test_concurrency_conflict_names_both_versions(self) -> None:
        """``ConcurrencyConflict`` reports the version saved from and the one stored."""
        error = ConcurrencyConflict("incident", "INC-7", expected=3, actual=4)
        assert (error.kind, error.entity_id, error.expected, error.actual) == (
            "incident",
            "INC-7",
            3,
            4,
        )
        assert "saved from version 3, stored version is 4" in str(error)

    def test_concurrency_conflict_allows_a_missing_stored_version(self) -> None:
        """A conflict against a deleted aggregate reports no stored version."""
        assert "stored version is None" in str(ConcurrencyConflict("alert", "A-1", 0, None))
