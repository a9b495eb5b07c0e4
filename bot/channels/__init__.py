"""Input channels that check what they receive before the assistant sees it."""
