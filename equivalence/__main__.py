import sys

# The guard matters: framework workers start with multiprocessing's "spawn", which re-imports __main__;
# keeping the import inside it also spares each worker the CLI's imports.
if __name__ == "__main__":
    from equivalence.cli import main

    sys.exit(main())
