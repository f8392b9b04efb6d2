"""ASGI entry point for servers that take an import string.

``uvicorn --factory api.main:app_from_environment`` builds the app from the
environment when the server starts (not at import), as the Docker image does.
"""

from __future__ import annotations

from fastapi import FastAPI

from api.app import create_app
from jobs.settings import load_settings


def app_from_environment() -> FastAPI:
    return create_app(load_settings())
