"""The reports are ones Frappe v15 imports and runs, with the columns their rows carry.

Each report's JSON has the keys of an export and sits where Frappe imports its module from; its
roles may read and report on its doctype; a script report's ``get_columns`` lists the columns the
engine's rows carry (proven for Driver Balances on a real SQLite database).
"""

from __future__ import annotations

import ast
from decimal import Decimal

import pytest

from ledger_app.db import schema
from ledger_app.db.pool import ConnectionPool
from ledger_app.engine import drivers
from tests.layout import (
	APP_ROLES,
	DOCTYPES,
	REPORT_IDS,
	REPORTS,
	imports_only_frappe,
	modules_txt,
	report_columns,
	report_folder,
	scrub,
)

DRIVER_BALANCE_COLUMNS = [
	"driver",
	"driver_name",
	"status",
	"target_outstanding",
	"payable",
	"deposit",
	"consecutive_misses",
	"flagged",
]
CLIENT_POSITION_COLUMNS = [
	"client_exchange",
	"client",
	"exchange",
	"capital",
	"active_loss",
	"remaining_loss",
	"your_share_total",
	"company_share_total",
]


def test_the_app_has_exactly_the_expected_reports():
	assert set(REPORTS) == {"Driver Balances", "Payouts", "Client Exchange Position"}


@pytest.mark.parametrize("name", REPORT_IDS)
def test_report_json_has_the_keys_a_v15_export_has(name):
	report = REPORTS[name]
	for key in (
		"doctype",
		"name",
		"report_name",
		"module",
		"ref_doctype",
		"report_type",
		"is_standard",
		"roles",
		"columns",
		"filters",
		"add_total_row",
		"disabled",
		"prepared_report",
		"creation",
		"modified",
		"owner",
	):
		assert key in report, key
	assert report["doctype"] == "Report"
	assert report["name"] == report["report_name"]
	assert report["owner"] == "Administrator"
	assert report["module"] in modules_txt()
	# standard: Report.execute_module runs the python module (a non-standard one runs report_script)
	assert report["is_standard"] == "Yes"
	assert report["report_type"] in ("Report Builder", "Query Report", "Script Report", "Custom Report")
	assert not report["disabled"]


@pytest.mark.parametrize("name", REPORT_IDS)
def test_report_sits_where_frappe_imports_it_from(name):
	# frappe/model/sync.py get_doc_files: <module>/report/<scrub(name)>/<scrub(name)>.json;
	# frappe/core/doctype/report/report.py get_report_module_dotted_path:
	# {app}.{scrub(module)}.report.{scrub(name)}.{scrub(name)}, then Report.execute_module calls
	# its execute(frappe._dict(filters)); query_report.get_script loads <scrub(name)>.js beside it
	folder = report_folder(name)
	module_dir = folder.parent.parent
	assert (folder / f"{scrub(name)}.json").is_file()
	for package in (module_dir, module_dir / "report", folder):
		assert (package / "__init__.py").is_file(), package
	if REPORTS[name]["report_type"] == "Script Report":
		tree = ast.parse((folder / f"{scrub(name)}.py").read_text())
		execute = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "execute"), None)
		assert execute is not None, "no top-level execute()"
		positional = execute.args.args
		assert positional and len(positional) - len(execute.args.defaults) <= 1  # execute(filters)
		script = (folder / f"{scrub(name)}.js").read_text()
		assert f'frappe.query_reports["{name}"]' in script


@pytest.mark.parametrize("name", REPORT_IDS)
def test_report_roles_may_read_and_report_on_its_doctype(name):
	# frappe.desk.query_report.run: "Must have report permission to access this report."
	report = REPORTS[name]
	assert report["ref_doctype"] in DOCTYPES
	roles = [r["role"] for r in report["roles"]]
	assert roles and len(roles) == len(set(roles)) and set(roles) <= APP_ROLES
	perms = {p["role"]: p for p in DOCTYPES[report["ref_doctype"]]["permissions"]}
	for role in roles:
		assert perms.get(role, {}).get("read") and perms[role].get("report"), role


def test_driver_balances_report_columns_and_imports():
	report = REPORTS["Driver Balances"]
	assert report["ref_doctype"] == "Fleet Driver" and report["report_type"] == "Script Report"
	assert {r["role"] for r in report["roles"]} == {"Ledger Manager", "Ledger User"}
	source = report_folder("Driver Balances") / "driver_balances.py"
	columns = report_columns(source)
	assert [c["fieldname"] for c in columns] == DRIVER_BALANCE_COLUMNS
	types_ = {c["fieldname"]: c["fieldtype"] for c in columns}
	assert {types_[f] for f in ("target_outstanding", "payable", "deposit")} == {"Currency"}
	assert types_["driver"] == "Link" and columns[0]["options"] == "Fleet Driver"
	assert types_["consecutive_misses"] == "Int" and types_["flagged"] == "Check"
	# only frappe at import time: the engine and the host are imported inside execute()
	assert imports_only_frappe(source)
	script = (report_folder("Driver Balances") / "driver_balances.js").read_text()
	assert 'fieldname: "status"' in script


def test_driver_balances_rows_carry_exactly_the_report_columns(tmp_path):
	pool = ConnectionPool(f"sqlite:///{tmp_path / 'report.db'}")
	try:
		with pool.connection() as db:
			schema.ensure_schema(db)
			drivers.upsert_driver(db, "D1", "Achieng", "0712345678")
			rows = drivers.balances_report(db)
			assert [set(row) for row in rows] == [set(DRIVER_BALANCE_COLUMNS)]
			assert rows[0]["payable"] == Decimal("0.00") and isinstance(rows[0]["payable"], Decimal)
			assert drivers.balances_report(db, status="Exited") == []
	finally:
		pool.dispose()


def test_client_exchange_position_report_columns_and_imports():
	report = REPORTS["Client Exchange Position"]
	assert report["ref_doctype"] == "Client Exchange" and report["report_type"] == "Script Report"
	assert {r["role"] for r in report["roles"]} == {"Ledger Manager", "Ledger User"}
	source = report_folder("Client Exchange Position") / "client_exchange_position.py"
	columns = report_columns(source)
	assert [c["fieldname"] for c in columns] == CLIENT_POSITION_COLUMNS
	assert columns[0]["fieldtype"] == "Link" and columns[0]["options"] == "Client Exchange"
	assert {c["fieldtype"] for c in columns[3:]} == {"Currency"}
	assert imports_only_frappe(source)  # the engine and the host are imported inside execute()
	assert "positions_report" in source.read_text()
