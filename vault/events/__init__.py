"""Events for consumer systems: the outbox of changes, who may hear of each, subscriptions,
webhook delivery (Standard Webhooks), the pull feed and acknowledgements (API.md §5)."""
