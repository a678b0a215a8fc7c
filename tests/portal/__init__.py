"""The privacy portal, through the Flask test client."""
