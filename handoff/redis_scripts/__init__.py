"""The Redis store's Lua scripts (handoff/redis_store.py runs them), one module per concern: the functions every
script shares (prelude.py), a chat's life (chats.py), the steps that take or free an agent's slot (offers.py), and
agents and queue figures (agents.py). The language match's Lua is with the routing (handoff/routing/language_match.py),
the tickets', timers' and access's with their Python."""
