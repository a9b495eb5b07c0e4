"""Service reports: the numbers that show whether service improves, from the stored records.

Layers: ``rows`` turns the stored records (escalations, tickets with their timelines, clock logs) into one flat
row per chat and per ticket (pure); ``figures`` aggregates rows into the figures (pure); ``summary`` assembles the
body of GET /v1/reports/summary and the weekly comparison (pure); ``read`` fetches a range's records from the
stores (the only module that does I/O); ``export`` writes the rows as CSV; ``routes`` is the HTTP wiring.

Definitions (docs/reports.md says the same, with examples):

- **Range**: whole days ``from``..``to`` (inclusive) in the business time zone (skill_groups.yml
  ``business_hours.default.timezone``, Asia/Shanghai). A record belongs to the range by its creation time.
- **Problem**: one customer's need on one topic. A chat's topic is the first topic of its case brief (the
  bot's intent or FAQ sub-intent the customer raised), else ``other``; a ticket's the first topic of its brief,
  else its first tag, else ``other``. A bot conversation that never reached a person is a problem of its own.
- **First-contact resolution (FCR)**: the share of problems solved by the bot alone, or by one human contact,
  with no follow-up, reopen or new contact on the same topic within 7 days. Numerator: conversations the bot
  finished without a person (bot containment, below) plus human contacts that were *solved at first contact*:
  a chat closed as resolved by the one agent who took it (assigned once, never transferred), whose survey did
  not say "not solved", that did not become a ticket, and with no other chat or ticket of the same customer on
  the same topic created in the 7 days after it; a ticket from another channel (source ``api``) solved without
  a reopen, never sent to another team, and with no newer contact likewise. Denominator: bot conversations
  (the bot's daily count) plus tickets from other channels. Tickets born from a chat belong to that chat's
  problem (the chat is then not solved at first contact). The bot's own repeats cannot be seen (its counts
  are anonymous HyperLogLogs), so a bot conversation followed by another one counts as contained twice.
- **Bot containment**: 1 - handoffs / conversations (the bot's per-day distinct conversations summed over
  the range's days); **handoff rate**: handoffs / conversations; per topic with the bot's per-topic counts.
- **SLA attainment** per group, priority band and target: among the records that carry the target (every
  chat and ticket: first_response and resolution; next_response where the clock log mentions it), the share
  without an ``sla_breach`` entry for that target in their clock log.
- **First response**: chat: creation to the first agent message; ticket: creation to the first public reply.
  **Resolution**: chat: creation to its close as resolved; ticket: creation to its first ``solved``.
  p50/p90 by linear interpolation (numpy's default), 0.1 s.
- **Reopen rate**: tickets reopened at least once (a ``solved`` -> another state entry) / tickets solved at
  least once.
- **Time per team**: seconds each ticket spent with each team (Ticket.team_seconds plus the running time of
  the current team); cross-team time: the part spent outside the owner team.
- **Top problems**: the 10 most frequent topics and handoff reasons (triggers) among chats and tickets, each
  with its solve rate (solved records / records); a topic below the threshold (default 60 %) is flagged.
- **Heat map**: 7 x 24 cells (Monday first, hours in the business time zone): chats created and their median
  wait (creation to the first assignment).
- **Satisfaction** per group and agent: surveys answered, average rating, share resolved; every "not solved"
  answer listed.
"""
