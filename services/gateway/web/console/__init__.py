"""The ops console (`/console`): pages for ops, signed in with a full-scope API key, rendered with the page kit.
`router` holds every console page; the app includes it once."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.web.console import pages_auth, pages_customers, pages_operations, pages_overview

router = APIRouter()
for pages in (pages_auth, pages_overview, pages_customers, pages_operations):
    router.include_router(pages.router, include_in_schema=False)
