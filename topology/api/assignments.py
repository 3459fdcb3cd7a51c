"""API routes (filled in by the work on this part)."""
from ninja import Router

router = Router(tags=["assignments"])
