"""Prefect flows, one module per pipeline, and the `reprolab` command line."""

from flows.settings import configure_environment

configure_environment()
