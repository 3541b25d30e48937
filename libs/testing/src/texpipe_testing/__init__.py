"""texpipe_testing."""
