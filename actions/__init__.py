"""Custom actions loaded by the action server (python -m rasa_sdk --actions actions)."""
