"""NLU test sets and their measuring tools."""
