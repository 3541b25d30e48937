"""Message contracts shared by every texpipe service.

Versioned message schemas live under ``v1/`` (a breaking change adds ``v2/``), the broker
topology in :mod:`topology`, job states in :mod:`jobs`, error codes in :mod:`errors`, the
source bundle format in :mod:`bundle` and the path rules in :mod:`paths`. This package
depends on pydantic only.
"""
