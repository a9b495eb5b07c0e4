"""`./run doctor`: checks the environment, ports, Redis, secrets, the model and the services' health, and says in
words what to fix.

Standard library only, on any Python 3.8 or newer: it runs before `./run` has made `.venv`. Nothing here writes a
file. The checks: `bot/doctor/setup_checks.py` (Python, .venv, tools, model, secrets), `bot/doctor/service_checks.py`
(ports, Redis, the services' health); `bot/doctor/report.py` runs them and prints one line per check."""
