"""The texpipe test harness: a pytest plugin over real servers (see :mod:`plugin`)."""
