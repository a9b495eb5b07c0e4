"""The handoff service: skill-group queues, agents, capacity-based assignment (issue 4, in progress)."""
