"""The Celery application shared by the web tier (which only sends) and the root lab worker.

JSON is the only serializer accepted anywhere: tasks carry IDs, never objects.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labsite.settings")

app = Celery("topolab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["topology"])
