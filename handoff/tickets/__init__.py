"""Tickets (工单): the case goes on after the chat, across teams, until the customer's problem is solved."""
