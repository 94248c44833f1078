"""Runnable examples. ``python -m polyback.examples.tutorial`` runs the backend tutorial."""
