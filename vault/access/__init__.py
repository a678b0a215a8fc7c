"""Governed access to customer records (see ``governed``)."""
