"""The admin UI, through the Flask test client."""
