"""The ticket service's own error."""


class TicketInvalid(ValueError):
    """Names a group, flow, agent or ticket that does not exist (HTTP 422)."""
