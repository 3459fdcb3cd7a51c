"""``manage.py lab`` and friends."""
