import sys

from scheduler.cli.commands import main

sys.exit(main())
