"""The customers' privacy portal at ``/privacy`` (API.md §3): its views and templates."""
