"""Topolab's test suite: unit (no root), integration (real Docker, Redis, Celery worker)."""
