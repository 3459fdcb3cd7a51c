"""The REST API under ``/api/v1/`` (django-ninja), with its OpenAPI schema and docs page."""
from ninja import NinjaAPI

api = NinjaAPI(title="Topolab API", version="1", urls_namespace="api")
