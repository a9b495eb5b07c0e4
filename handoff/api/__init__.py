"""The service's HTTP API for chats and agents: who calls and errors (helpers.py), the chats' routes (chats.py), the
agents' and supervisors' (agents.py), the console's WebSocket (stream.py) and the customer's survey answers
(surveys.py). Tickets' and reports' routes live with them (handoff/tickets/routes.py, handoff/reports/routes.py)."""
