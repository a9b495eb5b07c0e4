"""The Rasa server's side of a live handoff (the bridge between the Rasa server and the handoff service); the
bridge itself is bot/bridge/bridge.py, whose docstring says which module here does what. Imports nothing, so
that its modules import each other without cycles."""
