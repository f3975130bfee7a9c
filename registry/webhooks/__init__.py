"""Webhook subscriptions: signed deliveries from a durable outbox in the database."""
