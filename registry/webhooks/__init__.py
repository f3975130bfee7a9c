"""Webhook subscriptions: signed deliveries from a durable outbox in the database."""

from dhg_core.egress import AddressPolicy
from registry.sealing import SecretBox
from registry.settings import Settings


def secret_box(settings: Settings) -> SecretBox:
    """What seals and opens webhook signing secrets at rest: the current key first, then older ones."""
    keys = [settings.webhook_secret_key, *settings.webhook_previous_secret_keys]
    return SecretBox([key.get_secret_value() for key in keys if key is not None])


def address_policy(settings: Settings) -> AddressPolicy:
    """Where webhook deliveries may go: public addresses, plus what the settings open."""
    return AddressPolicy.of(
        allow_private=settings.webhook_allow_private, allowed_networks=settings.webhook_allowed_networks
    )
