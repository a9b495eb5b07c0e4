"""Service clocks: durable timers (timers.py, with the Redis store in redis_timers.py and the in-memory twin in
memory_timers.py) and what runs on them: SLA warnings and breaches, the delayed satisfaction survey, ticket
auto-close, and the surge rule; offset_clock.py is the service's clock itself (the wall clock, moved by an
offset in drills). Each concern registers a handler for its timer kind with the
:class:`~handoff.clocks.timers.TimerRunner`; the runner claims due timers under a lease and completes each
one, with what its handler recorded, in one atomic step."""
