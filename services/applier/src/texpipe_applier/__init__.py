"""texpipe_applier."""
