"""Input channels that check what they receive before the assistant sees it.

Rasa imports this package when it loads our channels (credentials.yml), after it has configured
logging: from then on every log record of the process has its card numbers masked (common/pii.py).
"""
from common.pii import install_card_masking

install_card_masking()
