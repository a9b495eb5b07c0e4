"""Dialogue policies of our own, loaded by the Rasa server from config.yml."""
