"""The admin UI and the portal in a real browser (Playwright and Chromium)."""
