"""Webhook subscriptions: signed deliveries from a durable outbox in the database."""

from core.egress import AddressPolicy
from registry.settings import Settings


def address_policy(settings: Settings) -> AddressPolicy:
    """Where webhook deliveries may go: public addresses, plus what the settings open."""
    return AddressPolicy.of(
        allow_private=settings.webhook_allow_private, allowed_networks=settings.webhook_allowed_networks
    )
