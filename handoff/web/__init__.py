"""The web pages the service serves itself (pages.py) and their files (HTML, scripts, styles, catalogs)."""
