"""Tickets (工单, issue 13): the model, its transitions, stores, flows between teams and e-mail."""
