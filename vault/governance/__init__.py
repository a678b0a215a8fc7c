"""Purposes and consent, retention and legal holds, ownership, access requests and privacy
requests."""
