"""Tests that start processes, servers or databases: served vaults, gunicorn workers, private
PostgreSQL clusters, the built wheel, races between connections."""
