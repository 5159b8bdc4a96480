import sys

from gatepass.cli import main

sys.exit(main())
