"""python3 -m bot.doctor: what ./run doctor runs."""
import sys

if sys.version_info < (3, 8):
    sys.exit("error: ./run doctor needs Python 3.8 or newer, and python3 here is %d.%d: install a newer python3, "
             "or run it with one: python3.10 -B -m bot.doctor" % sys.version_info[:2])

from bot.doctor.report import main  # noqa: E402 - after the version check: the checks use 3.8 syntax

sys.exit(main())
