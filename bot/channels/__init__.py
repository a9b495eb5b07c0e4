"""Input channels that check what they receive before the assistant sees it.

Rasa imports this package when it loads our channels (credentials.yml), after it has configured
logging: from then on every log record of the process has its card numbers masked and its control
characters escaped (common/logs.py), Python warnings included.
It also installs the one Rasa speed-up we measured a need for (bot/rasa_speedups.py), and retries calls to the
action server that could not reach it (bot/action_retry.py).
"""
from bot import action_retry, rasa_speedups
from common.pii import install_card_masking

install_card_masking()
rasa_speedups.apply()
action_retry.apply()
