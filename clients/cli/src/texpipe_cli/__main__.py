"""``texpipe`` console script and ``python -m texpipe_cli``."""

import sys

from texpipe_cli.cli import main as run


def main() -> None:
    """Entry point: exit with the command's exit code."""
    sys.exit(run())


if __name__ == "__main__":
    main()
