"""Helpers of the ``manage.py lab`` command: output formatting and waiting for operations."""
