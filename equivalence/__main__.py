import sys

from .cli import main

# The guard matters: framework workers start with multiprocessing's "spawn", which re-imports __main__.
if __name__ == "__main__":
    sys.exit(main())
