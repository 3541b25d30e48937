"""``python -m texpipe_compiler``: the compiler service."""

import uvloop
from faststream import FastStream
from texpipe_servicekit.logs import configure_logging

from texpipe_compiler.app import create_app
from texpipe_compiler.config import Settings


def build_app() -> FastStream:
    """The app from the environment (also ``faststream docs gen --factory``)."""
    settings = Settings()
    configure_logging(settings, "compiler")
    return create_app(settings)


def main() -> None:
    """Run until SIGTERM/SIGINT, then shut down gracefully."""
    # uvloop: a cache hit is mostly event-loop work (two broker hops, one publish confirm).
    uvloop.run(build_app().run())


if __name__ == "__main__":
    main()
