"""The HTTP API, through the Flask test client."""
