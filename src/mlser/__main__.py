"""``python -m mlser <step> ...``: the one command-line entry of every rule."""

from mlser.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
