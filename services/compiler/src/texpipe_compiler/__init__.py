"""texpipe_compiler."""
