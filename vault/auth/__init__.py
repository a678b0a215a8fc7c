"""Staff users (flask-login), API clients (bearer tokens) and the ``Principal`` that every
later layer receives."""
