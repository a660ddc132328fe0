"""Placeholder, replaced below."""

from __future__ import annotations

from typing import Any


def openapi_document(origin: str) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "local", "version": "1"}, "paths": {}}
