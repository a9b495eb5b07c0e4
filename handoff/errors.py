"""Errors the service's operations raise that the app maps to a status code (handoff/app.py)."""


class Invalid(ValueError):
    """The request is well-formed JSON but names something that does not exist (HTTP 422)."""
