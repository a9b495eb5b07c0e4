"""The handoff service: escalations (live chats with a person), tickets and agents, their queues, routing and clocks.

Where things are: routing/ (queues, offers, lost agents, language match), tickets/, clocks/ (durable timers, SLA,
surveys, surges), web/ (the console and dashboard pages), api/ (the chats' and agents' HTTP routes), reports/; the
store interface in store.py with its Redis (redis_store.py, redis_scripts/) and in-memory (memory_*.py) backends.
"""
