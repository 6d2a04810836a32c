"""What each install gets: pyproject's ``dependencies`` cover every third-party import of the code a
bench reaches, none of which imports a package of the ``standalone`` extra, and the ``standalone``
extra covers the rest of the package.  (The in-app tests import all of it on a real site with those
packages refused.)"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "ledger_app"

#: modules only the standalone host (its CLI, WSGI app, scheduler, pool) and its tests use
STANDALONE_ONLY = ("ledger_app/standalone/", "ledger_app/db/pool.py", "ledger_app/host/standalone_host.py",
	"ledger_app/gateways/simulator/")
#: distribution name -> the top-level module it provides, for every package pyproject names
IMPORT_NAME = {"werkzeug": "werkzeug", "tenacity": "tenacity", "requests": "requests", "waitress": "waitress",
	"click": "click", "pymysql": "pymysql", "psycopg": "psycopg", "sqlalchemy": "sqlalchemy",
	"apscheduler": "apscheduler", "pytest": "pytest", "hypothesis": "hypothesis"}
#: provided by the bench itself
BENCH = {"frappe"}


def project() -> dict:
	return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def import_names(requirements) -> set[str]:
	names = set()
	for requirement in requirements:
		distribution = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()
		assert distribution in IMPORT_NAME, f"add {distribution} to IMPORT_NAME"
		names.add(IMPORT_NAME[distribution])
	return names


def third_party_imports(path: Path) -> set[str]:
	"""Top-level names of every absolute import in the file, at any depth (a function's lazy import
	counts: it runs when the function does)."""
	names = set()
	for node in ast.walk(ast.parse(path.read_text())):
		if isinstance(node, ast.Import):
			names.update(alias.name.split(".")[0] for alias in node.names)
		elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
			names.add(node.module.split(".")[0])
	return {name for name in names if name != "ledger_app" and name not in sys.stdlib_module_names}


def modules(standalone: bool) -> list[Path]:
	found = []
	for path in sorted(APP.rglob("*.py")):
		relative = path.relative_to(ROOT).as_posix()
		if relative.startswith(STANDALONE_ONLY) == standalone:
			found.append(path)
	return found


def test_code_a_bench_reaches_needs_only_the_base_dependencies():
	base = import_names(project()["dependencies"])
	standalone = import_names(project()["optional-dependencies"]["standalone"])
	assert not base & standalone
	for path in modules(standalone=False):
		imports = third_party_imports(path)
		assert not imports & standalone, f"{path.relative_to(ROOT)} imports {imports & standalone} (standalone extra)"
		assert imports <= base | BENCH, f"{path.relative_to(ROOT)} imports {imports - base - BENCH}, not in dependencies"


def test_the_standalone_extra_covers_the_standalone_host():
	installed = import_names(project()["dependencies"]) | import_names(project()["optional-dependencies"]["standalone"])
	for path in modules(standalone=True):
		imports = third_party_imports(path)
		assert imports <= installed, f"{path.relative_to(ROOT)} imports {imports - installed}, in no install"
	assert {"waitress", "click", "pymysql", "psycopg", "sqlalchemy", "apscheduler"} <= installed - import_names(
		project()["dependencies"])


def test_the_scripts_install_the_extras_they_use():
	assert "-e '.[standalone,test]'" in (ROOT / "scripts" / "test").read_text()
	assert "-e '.[standalone]'" in (ROOT / "scripts" / "run").read_text()
	assert "-e '.[standalone]'" in (ROOT / "benchmarks" / "run").read_text()
