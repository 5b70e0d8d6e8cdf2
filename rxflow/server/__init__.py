"""Serve workflows over HTTP with Mastra's workflow routes, so ``@mastra/client-js`` drives them.

Needs the ``server`` extra (``pip install 'rxflow[server]'``): Starlette and uvicorn.
"""

from .app import create_app

__all__ = ["create_app"]
