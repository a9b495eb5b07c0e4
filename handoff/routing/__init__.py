"""Routing: which queue a chat joins and who is offered it. The skill-group rules themselves are pure data and
code in common/routing.py; here is what the service does with them over the store: the queues and offers
(queues.py: dispatch, lapsed offers, overflow to fallback groups, the sweep), agents lost when their console goes
away (presence.py), and the language match (language_match.py: who may read a chat; language_overflow.py: widening
the readers when nobody who reads the language is online)."""
