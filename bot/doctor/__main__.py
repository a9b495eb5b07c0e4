"""python3 -m bot.doctor: what ./run doctor runs."""
import sys

from bot.doctor.report import main

sys.exit(main())
