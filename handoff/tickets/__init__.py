"""Tickets (工单): model, store, flows, e-mail and the HTTP routes of the handoff service (CONTRACT.md)."""
