"""texpipe_servicekit."""
