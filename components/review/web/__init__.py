"""The review web service (FastAPI with server-rendered Jinja2 templates)."""

from components.review.web.app import create_app

__all__ = ["create_app"]
