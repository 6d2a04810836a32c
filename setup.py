# Shim for tools that still call setup.py (older bench versions); the metadata lives in pyproject.toml.
from setuptools import setup

setup()
