"""Prefect tasks: thin wrappers over components, plus tracking and versioning."""

from flows.settings import configure_environment

configure_environment()
