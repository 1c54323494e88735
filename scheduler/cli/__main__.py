import sys

from scheduler.cli.commands import main

if __name__ == "__main__":  # importable without running: `scheduler config check --imports` imports every module
    sys.exit(main())
