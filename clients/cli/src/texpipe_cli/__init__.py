"""texpipe command line client: talks to the api over HTTP only."""

__version__ = "0.1.0"
