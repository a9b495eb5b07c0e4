"""Errors the service's operations raise that the API maps to a status code (handoff/api/helpers.py ``on_error``)."""


class Invalid(ValueError):
    """The request is well-formed JSON but names something that does not exist (HTTP 422)."""
