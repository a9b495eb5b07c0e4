"""Custom actions loaded by the action server (`python -m actions`, see __main__.py)."""
