"""Shim for tools that still run setup.py (older bench versions); pyproject.toml is the source of the
metadata and pip builds with flit_core from it."""

import re
from pathlib import Path

from setuptools import find_packages, setup

try:
	import tomllib
except ImportError:  # Python 3.10
	import tomli as tomllib

here = Path(__file__).parent
project = tomllib.loads((here / "pyproject.toml").read_text())["project"]
version = re.search(r'__version__ = "([^"]+)"', (here / "ledger_app" / "__init__.py").read_text()).group(1)

setup(
	name=project["name"],
	version=version,
	description=project["description"],
	packages=find_packages(include=["ledger_app", "ledger_app.*"]),
	include_package_data=True,
	package_data={"ledger_app": ["*.txt", "**/*.json", "**/*.js", "**/.frappe", "public/.gitkeep"]},
	install_requires=project["dependencies"],
	extras_require=project.get("optional-dependencies", {}),
	entry_points={"console_scripts": [f"{k} = {v}" for k, v in project["scripts"].items()]},
	python_requires=project["requires-python"],
)
