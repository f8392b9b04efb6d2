"""The ``pgjobs`` command (``api.cli.main``) and the supervisor behind ``pgjobs worker``."""
