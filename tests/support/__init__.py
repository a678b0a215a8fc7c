"""What the tests start: a private PostgreSQL cluster, `vault serve` in a process of its own,
an SMTP server, and a blueprint that exists only in tests."""
