"""``python -m inverter``: see :mod:`inverter.cli`."""
import sys

from .cli import main

sys.exit(main())
