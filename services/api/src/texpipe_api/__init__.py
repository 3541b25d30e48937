"""texpipe_api."""
