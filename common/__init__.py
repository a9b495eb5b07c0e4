"""Pure helpers shared by the bot, the action server and the handoff service."""
