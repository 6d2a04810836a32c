"""The Frappe app layout: what `bench migrate` and `install-app` need, checked without a bench.

Every rule checked here is one Frappe v15 applies (file and function named in each test), so a
mistake shows here instead of on a bench: doctypes, reports and workspaces are read as JSON and
their controllers with ast.  What the controllers do is proven on a real site by the in-app suite
(``bench run-tests --app ledger_app``: ledger_app/tests and a test beside each doctype).  The schema
tests generate the standalone tables from the same doctype JSON and check them against Frappe's
column rules and on real databases.
"""

from __future__ import annotations

import ast
import configparser
import json
import multiprocessing
from pathlib import Path

import pytest

from ledger_app.db import catalog, constraints, schema
from ledger_app.db.pool import ConnectionPool

APP = Path(__file__).resolve().parent.parent / "ledger_app"

# frappe/core/doctype/docfield/docfield.json (v15), options of `fieldtype`
V15_FIELDTYPES = frozenset(
	"Autocomplete Attach|Attach Image|Barcode|Button|Check|Code|Color|Column Break|Currency|Data|Date|"
	"Datetime|Duration|Dynamic Link|Float|Fold|Geolocation|Heading|HTML|HTML Editor|Icon|Image|Int|JSON|"
	"Link|Long Text|Markdown Editor|Password|Percent|Phone|Read Only|Rating|Section Break|Select|"
	"Signature|Small Text|Tab Break|Table|Table MultiSelect|Text|Text Editor|Time".replace(
		"Autocomplete Attach", "Autocomplete|Attach"
	).split("|")
)
# frappe/model/__init__.py: no_value_fields, table_fields
NO_VALUE_FIELDS = frozenset(
	{
		"Section Break",
		"Column Break",
		"Tab Break",
		"HTML",
		"Table",
		"Table MultiSelect",
		"Button",
		"Image",
		"Fold",
		"Heading",
	}
)
TABLE_FIELDS = frozenset({"Table", "Table MultiSelect"})
# frappe/model/__init__.py default_fields, child_table_fields, optional_fields; base_document.RESERVED_KEYWORDS;
# DocType.scrub_field_names' restricted names
RESERVED_FIELDNAMES = frozenset(
	{"doctype", "name", "owner", "creation", "modified", "modified_by", "docstatus", "idx"}
	| {"parent", "parentfield", "parenttype"}
	| {"_user_tags", "_comments", "_assign", "_liked_by", "_seen"}
	| {"meta", "flags", "_weakref", "_parent_doc", "_table_fields", "_doc_before_save", "_table_fieldnames"}
	| {"permitted_fieldnames", "dont_update_if_missing", "file_list"}
)
# doctypes a Link may point at without being ours: Frappe core ones
FRAPPE_DOCTYPES = frozenset(
	{"DocType", "User", "Role", "Currency", "Country", "File", "Module Def", "Contact", "Address"}
)

# The field names and types the engine's SQL is written against.
CONTRACT = {
	"Ledger Account": {
		"account_name": "Data",
		"root_type": "Select",
		"normal_side": "Select",
		"account_type": "Data",
		"party_type": "Link",
		"party": "Dynamic Link",
		"currency": "Data",
		"balance": "Currency",
		"frozen": "Check",
		"allow_negative_balance": "Check",
		"posting_count": "Int",
	},
	"Ledger Transaction": {
		"transaction_type": "Data",
		"posting_datetime": "Datetime",
		"idempotency_key": "Data",
		"key_scope": "Data",
		"remarks": "Small Text",
		"reversal_of": "Link",
		"party_type": "Link",
		"party": "Dynamic Link",
		"payload_hash": "Data",
		"postings": "Table",
		"amended_from": "Link",
	},
	"Ledger Posting": {
		"account": "Link",
		"amount": "Currency",
		"balance_after": "Currency",
		"posting_datetime": "Datetime",
		"account_seq": "Int",
	},
	"Ledger Settings": {
		"currency": "Data",
		"reconcile_auto_fix": "Check",
		"reconcile_tolerance": "Currency",
		"deadlock_retries": "Int",
		"callback_token": "Password",
		"allowed_callback_ips": "Small Text",
		"global_daily_target": "Currency",
		"global_fare_pct": "Percent",
		"target_sharing": "Check",
		"instant_payouts": "Check",
		"minimum_payout": "Currency",
		"business_timezone": "Data",
		"paybill_shortcode": "Data",
		"miss_threshold": "Int",
		"daraja_base_url": "Data",
		"daraja_consumer_key": "Data",
		"daraja_consumer_secret": "Password",
		"daraja_shortcode": "Data",
		"daraja_initiator": "Data",
		"daraja_security_credential": "Password",
	},
	"Fleet Driver": {
		"driver_id": "Data",
		"driver_name": "Data",
		"phone": "Data",
		"status": "Select",
		"daily_target": "Currency",
		"fare_pct": "Percent",
		"target_sharing": "Select",
		"instant_payout": "Select",
		"consecutive_misses": "Int",
		"flagged": "Check",
		"last_target_date": "Date",
		"target_account": "Link",
		"payable_account": "Link",
		"deposit_account": "Link",
		# virtual (VIRTUAL_FIELDS): no column, the controller reads them from the driver's accounts
		"target_outstanding": "Currency",
		"payable": "Currency",
		"deposit": "Currency",
	},
	"Fleet Vehicle": {
		"vehicle_id": "Data",
		"account_number": "Data",
		"driver": "Link",
		"substitute_driver": "Link",
	},
	"Unmatched Payment": {
		"trans_id": "Data",
		"amount": "Currency",
		"bill_ref_number": "Data",
		"msisdn": "Data",
		"payer_name": "Data",
		"trans_time": "Datetime",
		"status": "Select",
		"assigned_driver": "Link",
		"ledger_transaction": "Link",
		"assignment_transaction": "Link",
		"assigned_by": "Data",
		"assigned_at": "Datetime",
	},
	"Payout": {
		"party_type": "Link",
		"party": "Dynamic Link",
		"amount": "Currency",
		"purpose": "Select",
		"phone": "Data",
		"status": "Select",
		"originator_conversation_id": "Data",
		"idempotency_key": "Data",
		"key_scope": "Data",
		"retry_of": "Link",
		"gateway": "Data",
		"attempts": "Int",
		"next_attempt_at": "Datetime",
		"submitted_at": "Datetime",
		"conversation_id": "Data",
		"gateway_receipt": "Data",
		"status_query_id": "Data",
		"result_code": "Data",
		"result_desc": "Small Text",
		"last_error": "Small Text",
		"queue_transaction": "Link",
		"settle_transaction": "Link",
	},
	"Callback Log": {
		"endpoint": "Data",
		"http_method": "Data",
		"remote_addr": "Data",
		"headers": "Long Text",
		"body": "Long Text",
		"status": "Select",
		"http_status": "Int",
		"error": "Long Text",
		"reference": "Data",
	},
	"Reconciliation Run": {
		"started_at": "Datetime",
		"finished_at": "Datetime",
		"duration_ms": "Int",
		"scope": "Data",
		"accounts_checked": "Int",
		"postings_checked": "Int",
		"discrepancy_count": "Int",
		"fixed_count": "Int",
		"fix_requested": "Check",
		"run_by": "Data",
		"status": "Select",
		"discrepancies": "Table",
	},
	"Reconciliation Discrepancy": {
		"account": "Link",
		"kind": "Select",
		"cached": "Currency",
		"derived": "Currency",
		"difference": "Currency",
		"fixed": "Check",
		"fixed_by": "Data",
		"fixed_at": "Datetime",
		"balance_before": "Currency",
		"balance_after": "Currency",
	},
	"Client": {
		"client_id": "Data",
		"client_name": "Data",
		"phone": "Data",
	},
	"Client Exchange": {
		"client_exchange_id": "Data",
		"client": "Link",
		"exchange": "Data",
		"my_share_pct": "Percent",
		"company_share_pct": "Percent",
		"capital_account": "Link",
		"payable_account": "Link",
		# virtual (VIRTUAL_FIELDS): no column, the controller reads them from clients.position
		"capital": "Currency",
		"active_loss": "Currency",
		"remaining_loss": "Currency",
		"your_share_total": "Currency",
		"company_share_total": "Currency",
	},
	"Balance Record": {
		"client_exchange": "Link",
		"date": "Date",
		"remaining_balance": "Currency",
		"capital_at_time": "Currency",
		"loss_at_time": "Currency",
		"profit_at_time": "Currency",
		"profit_consumed": "Check",
		"profit_withdrawal_id": "Data",
		"idempotency_key": "Data",
		"loss_snapshot": "Link",
		"withdrawal_transaction": "Link",
		"payout": "Link",
	},
	"Loss Snapshot": {
		"client_exchange": "Link",
		"balance_record": "Link",
		"loss_amount": "Currency",
		"remaining_loss": "Currency",
		"my_share_pct": "Percent",
		"company_share_pct": "Percent",
		"is_settled": "Check",
		"settled_at": "Datetime",
		"settlements": "Table",
	},
	"Loss Settlement": {
		"payment": "Currency",
		"your_share": "Currency",
		"company_share": "Currency",
		"capital_closed": "Currency",
		"closed_snapshot": "Check",
		"idempotency_key": "Data",
		"ledger_transaction": "Link",
	},
}

# Fields with ``is_virtual``: Frappe v15 gives them no column (frappe/database/schema.py,
# DBTable.get_columns_from_docfields) and takes their value from a controller property of the same
# name (frappe/model/base_document.py, BaseDocument.get_valid_dict).
VIRTUAL_FIELDS = {
	"Fleet Driver": {"target_outstanding", "payable", "deposit"},
	"Client Exchange": {
		"capital",
		"active_loss",
		"remaining_loss",
		"your_share_total",
		"company_share_total",
	},
}
# What the engine reads when a setting was never saved: the JSON defaults (engine/settings.py)
SETTINGS_DEFAULTS = {
	"global_fare_pct": "50",
	"target_sharing": "1",
	"instant_payouts": "0",
	"minimum_payout": "10",
	"business_timezone": "Africa/Nairobi",
	"miss_threshold": "3",
	"deadlock_retries": "5",  # a new site's first desk save passes validate (at least 1)
}
APP_ROLES = {"System Manager", "Ledger Manager", "Ledger User"}


def scrub(text: str) -> str:
	return text.replace(" ", "_").replace("-", "_").lower()


def doctype_files() -> list[Path]:
	return sorted(path for path in APP.glob("*/doctype/*/*.json") if path.stem == path.parent.name)


DOCTYPES = {json.loads(path.read_text())["name"]: json.loads(path.read_text()) for path in doctype_files()}
META_IDS = sorted(DOCTYPES)


def value_fields(meta):
	return [f for f in meta["fields"] if f["fieldtype"] not in NO_VALUE_FIELDS]


# --- doctype JSON -----------------------------------------------------------------------------


def test_the_app_has_exactly_the_contracted_doctypes():
	assert set(DOCTYPES) == set(CONTRACT)


# DocType names are global in a site: ours must not take one of Frappe, ERPNext, HRMS or Payments v15
# (installing over one replaces it, and every migrate flips it back). tests/data/taken-doctype-names.tsv
# lists theirs (app, module, name, path of the JSON in v15); names of doctypes planned are reserved here.
TAKEN_DOCTYPE_NAMES = Path(__file__).resolve().parent / "data" / "taken-doctype-names.tsv"
PLANNED_DOCTYPES = {"Phone Payment Request"}  # M-Pesa Express (STK push) payment requests, planned


def taken_doctype_names() -> dict[str, str]:
	import csv

	taken = {}
	with TAKEN_DOCTYPE_NAMES.open(newline="") as file:
		for row in csv.DictReader(file, delimiter="\t"):
			taken[row["doctype_name"].casefold()] = f"{row['app']} ({row['module']})"
	assert len(taken) > 900, "the list of taken doctype names looks truncated"
	return taken


def test_app_json_files_have_no_duplicate_keys():
	"""json.loads keeps the last of two equal keys; Frappe's import would too, silently."""

	def no_duplicates(pairs):
		keys = [key for key, _ in pairs]
		duplicated = sorted({key for key in keys if keys.count(key) > 1})
		assert not duplicated, f"duplicate keys {duplicated}"
		return dict(pairs)

	for path in sorted(APP.rglob("*.json")):
		try:
			json.loads(path.read_text(), object_pairs_hook=no_duplicates)
		except AssertionError as exc:
			raise AssertionError(f"{path.relative_to(APP)}: {exc}") from None


def test_no_doctype_name_is_taken_by_frappe_erpnext_hrms_or_payments():
	taken = taken_doctype_names()
	clashes = {name: taken[name.casefold()] for name in sorted(set(DOCTYPES) | PLANNED_DOCTYPES) if name.casefold() in taken}
	assert clashes == {}


@pytest.mark.parametrize("name", META_IDS)
def test_doctype_fields_match_the_engine_contract(name):
	fields = {
		f["fieldname"]: f["fieldtype"]
		for f in value_fields(DOCTYPES[name])
		+ [f for f in DOCTYPES[name]["fields"] if f["fieldtype"] in TABLE_FIELDS]
	}
	assert fields == CONTRACT[name]


@pytest.mark.parametrize("name", META_IDS)
def test_doctype_module_is_listed_in_modules_txt(name):
	modules = [line.strip() for line in (APP / "modules.txt").read_text().splitlines() if line.strip()]
	assert DOCTYPES[name]["module"] in modules


@pytest.mark.parametrize("name", META_IDS)
def test_doctype_sits_where_frappe_imports_it_from(name):
	# frappe.modules.utils.get_module_name: {app}.{scrub(module)}.doctype.{scrub(dt)}.{scrub(dt)}
	module_dir = APP / scrub(DOCTYPES[name]["module"])
	folder = module_dir / "doctype" / scrub(name)
	assert (folder / f"{scrub(name)}.json").is_file()
	assert (folder / f"{scrub(name)}.py").is_file()
	for package in (module_dir, module_dir / "doctype", folder):
		assert (package / "__init__.py").is_file(), package
	assert (module_dir / ".frappe").is_file()  # bench new-app makes it in every module folder


@pytest.mark.parametrize("name", META_IDS)
def test_controller_class_is_named_as_frappe_imports_it(name):
	# frappe.model.base_document.import_controller: doctype.replace(" ", "").replace("-", "")
	source = APP / scrub(DOCTYPES[name]["module"]) / "doctype" / scrub(name) / f"{scrub(name)}.py"
	classes = [node for node in ast.parse(source.read_text()).body if isinstance(node, ast.ClassDef)]
	expected = name.replace(" ", "").replace("-", "")
	assert expected in [c.name for c in classes]
	cls = next(c for c in classes if c.name == expected)
	assert [ast.unparse(base) for base in cls.bases] == ["Document"]


@pytest.mark.parametrize("name", META_IDS)
def test_controller_type_annotations_list_exactly_the_doctype_fields(name):
	# export_python_type_annotations keeps this block in step with the JSON on a developer bench
	meta = DOCTYPES[name]
	source = APP / scrub(meta["module"]) / "doctype" / scrub(name) / f"{scrub(name)}.py"
	text = source.read_text()
	assert "# begin: auto-generated types" in text and "# end: auto-generated types" in text
	cls = next(n for n in ast.parse(text).body if isinstance(n, ast.ClassDef))
	type_checking = next(n for n in cls.body if isinstance(n, ast.If))
	annotated = {n.target.id for n in type_checking.body if isinstance(n, ast.AnnAssign)}
	# frappe/types/exporter.py, TypeExporter._generate_code: a virtual field without options is
	# left out (the controller's property of that name is its type)
	expected = {
		f["fieldname"]
		for f in meta["fields"]
		if f["fieldtype"] not in NO_VALUE_FIELDS - TABLE_FIELDS
		and not (f.get("is_virtual") and not f.get("options"))
	}
	if meta.get("istable"):
		expected |= {"parent", "parentfield", "parenttype"}
	if meta.get("autoname") == "autoincrement":
		expected.add("name")
	assert annotated == expected


@pytest.mark.parametrize("name", META_IDS)
def test_doctype_json_has_the_keys_a_v15_export_has(name):
	meta = DOCTYPES[name]
	for key in (
		"doctype",
		"name",
		"module",
		"fields",
		"field_order",
		"permissions",
		"engine",
		"creation",
		"modified",
		"owner",
	):
		assert key in meta, key
	assert meta["doctype"] == "DocType"
	assert meta["engine"] == "InnoDB"
	assert meta["owner"] == "Administrator"
	if meta.get("autoname") == "autoincrement":
		assert meta["naming_rule"] == "Autoincrement"
	if str(meta.get("autoname", "")).startswith("field:"):
		assert meta["naming_rule"] == "By fieldname"
		fieldname = meta["autoname"].split(":", 1)[1]
		assert next(f for f in meta["fields"] if f["fieldname"] == fieldname).get("unique")


@pytest.mark.parametrize("name", META_IDS)
def test_fieldtypes_are_v15_fieldtypes(name):
	for field in DOCTYPES[name]["fields"]:
		assert field["fieldtype"] in V15_FIELDTYPES, field


@pytest.mark.parametrize("name", META_IDS)
def test_link_and_table_fields_point_at_existing_doctypes(name):
	for field in DOCTYPES[name]["fields"]:
		if field["fieldtype"] == "Link" or field["fieldtype"] in TABLE_FIELDS:
			assert field.get("options") in set(DOCTYPES) | FRAPPE_DOCTYPES, field
		if field["fieldtype"] in TABLE_FIELDS:
			# DocType.validate_fields.check_child_table_option
			assert DOCTYPES[field["options"]].get("istable"), field


@pytest.mark.parametrize("name", META_IDS)
def test_dynamic_links_name_a_link_to_doctype(name):
	# DocType.validate_fields.check_dynamic_link_options
	fields = {f["fieldname"]: f for f in DOCTYPES[name]["fields"]}
	for field in fields.values():
		if field["fieldtype"] == "Dynamic Link":
			pointer = fields[field["options"]]
			assert pointer["fieldtype"] == "Link" and pointer["options"] == "DocType", field


@pytest.mark.parametrize("name", META_IDS)
def test_fieldnames_are_unique_and_not_reserved(name):
	names = [f["fieldname"] for f in DOCTYPES[name]["fields"]]
	assert len(names) == len(set(names))
	assert not set(names) & RESERVED_FIELDNAMES
	for fieldname in names:
		assert fieldname == fieldname.lower() and fieldname.replace("_", "").isalnum(), fieldname


@pytest.mark.parametrize("name", META_IDS)
def test_select_fields_have_options_and_defaults_among_them(name):
	for field in DOCTYPES[name]["fields"]:
		if field["fieldtype"] == "Select":
			options = field.get("options", "").split("\n")
			assert [o for o in options if o.strip()], field
			if field.get("default"):
				assert field["default"] in options, field


@pytest.mark.parametrize("name", META_IDS)
def test_unique_and_index_flags_follow_frappe_rules(name):
	# DocType.validate_fields.check_unique_and_text, check_hidden_and_mandatory, check_illegal_default
	for field in DOCTYPES[name]["fields"]:
		if field.get("unique"):
			assert field["fieldtype"] in ("Data", "Link", "Read Only"), field
			assert not field.get("search_index"), field  # scrub_field_names drops it anyway
		if field.get("search_index"):
			assert field["fieldtype"] not in ("Text", "Long Text", "Small Text", "Code", "Text Editor"), field
		if field.get("hidden") and field.get("reqd"):
			assert field.get("default"), field
		if field["fieldtype"] == "Check":
			assert str(field.get("default", "0")) in ("0", "1"), field
		if field.get("reqd"):
			assert field["fieldtype"] not in NO_VALUE_FIELDS - TABLE_FIELDS, field


@pytest.mark.parametrize("name", META_IDS)
def test_field_order_lists_every_field_once(name):
	meta = DOCTYPES[name]
	assert meta["field_order"] == [f["fieldname"] for f in meta["fields"]]


@pytest.mark.parametrize("name", [n for n in META_IDS if DOCTYPES[n].get("is_submittable")])
def test_submittable_doctype_has_amended_from(name):
	# imports run with ignore_validate, so DocType.make_amendable never adds it on migrate
	field = next(f for f in DOCTYPES[name]["fields"] if f["fieldname"] == "amended_from")
	assert field["fieldtype"] == "Link" and field["options"] == name
	assert field.get("read_only") and field.get("no_copy") and field.get("print_hide")


@pytest.mark.parametrize("name", META_IDS)
def test_permissions_pass_frappe_validate_permissions(name):
	meta = DOCTYPES[name]
	perms = meta["permissions"]
	if meta.get("istable"):
		assert perms == []  # DocType.set_defaults_for_single_and_table clears them
		return
	assert perms, "a doctype nobody may read"
	roles = [p["role"] for p in perms]
	assert len(roles) == len(set(roles))
	assert set(roles) <= {"System Manager", "Ledger Manager", "Ledger User"}
	for p in perms:
		assert any(p.get(k) for k in ("select", "read", "write", "submit", "cancel", "create")), p
		if p.get("cancel"):
			assert p.get("submit"), p
		if p.get("submit") or p.get("cancel") or p.get("amend"):
			assert p.get("write"), p
		if p.get("import"):
			assert p.get("create") and meta.get("allow_import"), p
		if not meta.get("is_submittable"):
			assert not (p.get("submit") or p.get("amend")), p
		if meta.get("issingle"):
			assert not (p.get("report") or p.get("import") or p.get("export")), p


def test_desk_permissions_keep_money_with_the_engine():
	def perm(doctype, role):
		return next((p for p in DOCTYPES[doctype]["permissions"] if p["role"] == role), {})

	# nobody creates a transaction in desk; a Ledger Manager may read, report and cancel
	assert not any(p.get("create") for p in DOCTYPES["Ledger Transaction"]["permissions"])
	assert DOCTYPES["Ledger Transaction"].get("in_create")
	manager = perm("Ledger Transaction", "Ledger Manager")
	assert manager.get("read") and manager.get("report") and manager.get("cancel")
	assert not any(p.get("amend") or p.get("delete") for p in DOCTYPES["Ledger Transaction"]["permissions"])
	# a Ledger Manager opens and edits accounts but deletes none; the balance is never editable
	account = perm("Ledger Account", "Ledger Manager")
	assert account.get("create") and account.get("write") and not account.get("delete")
	balance = next(f for f in DOCTYPES["Ledger Account"]["fields"] if f["fieldname"] == "balance")
	assert balance.get("read_only") and balance.get("options") == "currency"
	# the engine writes logs and runs; desk only reads them
	for doctype in ("Callback Log", "Reconciliation Run"):
		for p in DOCTYPES[doctype]["permissions"]:
			assert not (p.get("create") or p.get("write") or p.get("delete")), (doctype, p)


def test_desk_permissions_for_drivers_vehicles_and_unmatched_payments():
	def perm(doctype, role):
		return next((p for p in DOCTYPES[doctype]["permissions"] if p["role"] == role), {})

	for doctype in ("Fleet Driver", "Fleet Vehicle"):
		manager, user = perm(doctype, "Ledger Manager"), perm(doctype, "Ledger User")
		assert (
			manager.get("create") and manager.get("write") and manager.get("read") and manager.get("report")
		)
		assert not manager.get("delete")
		assert user.get("read") and user.get("report")
		assert not any(user.get(k) for k in ("create", "write", "delete", "import")), (doctype, user)
	# a driver is never deleted (its accounts and transactions name it): status Exited ends it
	assert not any(p.get("delete") for p in DOCTYPES["Fleet Driver"]["permissions"])
	# the engine records unmatched payments and moves them on; desk only reads them
	unmatched = DOCTYPES["Unmatched Payment"]
	assert unmatched.get("in_create")
	for p in unmatched["permissions"]:
		assert not any(p.get(k) for k in ("create", "write", "delete", "import")), p
	manager = perm("Unmatched Payment", "Ledger Manager")
	assert manager.get("read") and manager.get("report")
	assert all(f.get("read_only") for f in value_fields(unmatched))


def test_drivers_and_vehicles_follow_the_spec():
	assert DOCTYPES["Fleet Driver"]["autoname"] == "field:driver_id"
	assert DOCTYPES["Fleet Vehicle"]["autoname"] == "field:vehicle_id"
	assert DOCTYPES["Unmatched Payment"]["autoname"] == "hash"
	driver = {f["fieldname"]: f for f in DOCTYPES["Fleet Driver"]["fields"]}
	assert driver["status"]["options"].split("\n") == ["Active", "Suspended", "Exited"]
	assert driver["status"]["default"] == "Active"
	assert driver["status"].get("in_list_view") and driver["status"].get("in_standard_filter")
	for fieldname in ("target_sharing", "instant_payout"):
		assert driver[fieldname]["options"].split("\n") == ["Follow Global", "Enable", "Disable"]
		assert driver[fieldname]["default"] == "Follow Global"
	for fieldname in ("daily_target", "fare_pct"):  # 0 stands for the global setting
		assert "0 means" in driver[fieldname]["description"] and "global" in driver[fieldname]["description"]
	for fieldname in ("target_account", "payable_account", "deposit_account"):
		assert driver[fieldname]["options"] == "Ledger Account" and driver[fieldname].get("read_only")
	for fieldname in ("consecutive_misses", "flagged", "last_target_date"):
		assert driver[fieldname].get("read_only")
	vehicle = {f["fieldname"]: f for f in DOCTYPES["Fleet Vehicle"]["fields"]}
	assert vehicle["account_number"].get("unique") and vehicle["account_number"].get("reqd")
	assert vehicle["driver"]["options"] == vehicle["substitute_driver"]["options"] == "Fleet Driver"
	unmatched = {f["fieldname"]: f for f in DOCTYPES["Unmatched Payment"]["fields"]}
	assert unmatched["status"]["options"].split("\n") == ["Open", "Assigned", "Refund Requested", "Refunded"]
	assert unmatched["status"]["default"] == "Open" and unmatched["status"].get("search_index")
	assert unmatched["trans_id"].get("unique") and unmatched["trans_id"].get("reqd")


def test_ledger_settings_defaults_are_the_engines_defaults():
	# engine/settings.py falls back to the JSON default for a setting never saved
	fields = {f["fieldname"]: f for f in DOCTYPES["Ledger Settings"]["fields"]}
	for fieldname, default in SETTINGS_DEFAULTS.items():
		assert fields[fieldname].get("default") == default, fieldname
	assert not fields["global_daily_target"].get("default")


def controller_path(name: str) -> Path:
	return APP / scrub(DOCTYPES[name]["module"]) / "doctype" / scrub(name) / f"{scrub(name)}.py"


def controller_class(name: str) -> ast.ClassDef:
	expected = name.replace(" ", "").replace("-", "")
	tree = ast.parse(controller_path(name).read_text())
	return next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == expected)


def module_constant(path: Path, name: str):
	for node in ast.parse(path.read_text()).body:
		if isinstance(node, ast.Assign) and any(
			isinstance(t, ast.Name) and t.id == name for t in node.targets
		):
			return ast.literal_eval(node.value)
	raise LookupError(f"{path} assigns no {name}")


def is_property(node) -> bool:
	# frappe.utils.is_a_property: property or functools.cached_property
	return any(
		ast.unparse(d) in ("property", "cached_property", "functools.cached_property")
		for d in node.decorator_list
	)


def test_driver_controller_keeps_every_engine_field():
	# every stored read-only Driver field is written by the engine only; validate restores them all
	stored_read_only = {
		f["fieldname"]
		for f in value_fields(DOCTYPES["Fleet Driver"])
		if f.get("read_only") and not f.get("is_virtual")
	}
	assert set(module_constant(controller_path("Fleet Driver"), "ENGINE_FIELDS")) == stored_read_only


@pytest.mark.parametrize("name", META_IDS)
def test_virtual_fields_are_read_only_and_never_queried_as_columns(name):
	meta = DOCTYPES[name]
	virtual = [f for f in meta["fields"] if f.get("is_virtual")]
	assert {f["fieldname"] for f in virtual} == VIRTUAL_FIELDS.get(name, set())
	named_as_columns = {meta.get("title_field"), meta.get("sort_field"), meta.get("image_field")}
	named_as_columns |= {s.strip() for s in (meta.get("search_fields") or "").split(",")}
	for field in virtual:
		assert field["is_virtual"] == 1 and field.get("read_only"), field
		# no options: the value is the controller's property, not a safe_eval expression
		assert not field.get("options"), field
		# list views, filters, search, fetches and indexes query the table, which has no such column
		for flag in (
			"in_list_view",
			"in_standard_filter",
			"in_global_search",
			"in_preview",
			"search_index",
			"unique",
			"reqd",
			"default",
			"fetch_from",
			"allow_on_submit",
		):
			assert not field.get(flag), (field["fieldname"], flag)
		assert field["fieldname"] not in named_as_columns


@pytest.mark.parametrize("name", META_IDS)
def test_controller_properties_and_methods_do_not_shadow_stored_fields(name):
	# DocType.validate_field_name_conflicts (frappe/core/doctype/doctype/doctype.py): a field may share
	# its name with a controller property only when it is virtual, never with a method; and
	# BaseDocument.get_valid_dict reads a virtual field without options from that property
	functions = {
		n.name: n
		for n in controller_class(name).body
		if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
	}
	properties = {fn for fn, node in functions.items() if is_property(node)}
	for field in DOCTYPES[name]["fields"]:
		if field["fieldtype"] in NO_VALUE_FIELDS:
			continue
		assert field["fieldname"] not in set(functions) - properties, field
		if field.get("is_virtual") and not field.get("options"):
			assert field["fieldname"] in properties, field
		else:
			assert field["fieldname"] not in properties, field


@pytest.mark.parametrize("name", META_IDS)
def test_doctype_scripts_are_named_as_frappe_loads_them(name):
	# frappe/desk/form/meta.py, FormMeta.add_code: <scrub(dt)>.js for the form, <scrub(dt)>_list.js for
	# the list view (and _calendar.js, _tree.js), from the doctype's folder
	folder = controller_path(name).parent
	stem = scrub(name)
	allowed = {f"{stem}{suffix}.js" for suffix in ("", "_list", "_calendar", "_tree")}
	for script in folder.glob("*.js"):
		assert script.name in allowed, script
	form, listing = folder / f"{stem}.js", folder / f"{stem}_list.js"
	if form.is_file():
		assert f'frappe.ui.form.on("{name}"' in form.read_text()
	if listing.is_file():
		text = listing.read_text()
		assert f'frappe.listview_settings["{name}"]' in text
		status = next((f for f in DOCTYPES[name]["fields"] if f["fieldname"] == "status"), None)
		if status:  # an indicator for every status
			for option in status["options"].split("\n"):
				assert option in text, option


def test_list_indicators_for_drivers_and_unmatched_payments():
	for name in ("Fleet Driver", "Unmatched Payment"):
		assert (controller_path(name).parent / f"{scrub(name)}_list.js").is_file()
	driver = (controller_path("Fleet Driver").parent / "fleet_driver_list.js").read_text()
	assert "flagged" in driver and '"red"' in driver


# --- reports ---------------------------------------------------------------------------------------


def report_files() -> list[Path]:
	return sorted(path for path in APP.glob("*/report/*/*.json") if path.stem == path.parent.name)


REPORTS = {json.loads(path.read_text())["name"]: json.loads(path.read_text()) for path in report_files()}
REPORT_IDS = sorted(REPORTS)
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


def modules_txt() -> list[str]:
	return [line.strip() for line in (APP / "modules.txt").read_text().splitlines() if line.strip()]


def report_folder(name: str) -> Path:
	return APP / scrub(REPORTS[name]["module"]) / "report" / scrub(name)


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


def report_columns(path: Path) -> list[dict]:
	"""The column dicts ``get_columns`` returns, their constant entries only (labels are ``_()``)."""
	function = next(
		n
		for n in ast.parse(path.read_text()).body
		if isinstance(n, ast.FunctionDef) and n.name == "get_columns"
	)
	returned = next(n for n in ast.walk(function) if isinstance(n, ast.Return)).value
	return [
		{k.value: v.value for k, v in zip(d.keys, d.values) if isinstance(v, ast.Constant)}
		for d in returned.elts
	]


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
	for node in ast.parse(source.read_text()).body:
		if isinstance(node, ast.ImportFrom):
			assert node.module.split(".")[0] == "frappe", node.module
		elif isinstance(node, ast.Import):
			assert all(a.name.split(".")[0] == "frappe" for a in node.names)
	script = (report_folder("Driver Balances") / "driver_balances.js").read_text()
	assert 'fieldname: "status"' in script


def test_driver_balances_rows_carry_exactly_the_report_columns(tmp_path):
	from decimal import Decimal

	from ledger_app.engine import drivers

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


# --- workspaces ------------------------------------------------------------------------------------


def workspace_files() -> list[Path]:
	return sorted(path for path in APP.glob("*/workspace/*/*.json") if path.stem == path.parent.name)


WORKSPACES = {
	json.loads(path.read_text())["name"]: json.loads(path.read_text()) for path in workspace_files()
}
WORKSPACE_IDS = sorted(WORKSPACES)
# the keys of a v15 export (frappe/core/workspace/users/users.json; frappe/desk/doctype/workspace)
V15_WORKSPACE_KEYS = (
	"charts",
	"content",
	"creation",
	"custom_blocks",
	"docstatus",
	"doctype",
	"for_user",
	"hide_custom",
	"icon",
	"idx",
	"is_hidden",
	"label",
	"links",
	"modified",
	"modified_by",
	"module",
	"name",
	"number_cards",
	"owner",
	"parent_page",
	"public",
	"quick_lists",
	"restrict_to_domain",
	"roles",
	"sequence_id",
	"shortcuts",
	"title",
)


def test_the_app_has_one_workspace_for_its_module():
	assert set(WORKSPACES) == {"Ledger"}
	assert WORKSPACES["Ledger"]["module"] == "Ledger"


@pytest.mark.parametrize("name", WORKSPACE_IDS)
def test_workspace_json_has_the_keys_a_v15_export_has(name):
	workspace = WORKSPACES[name]
	for key in V15_WORKSPACE_KEYS:
		assert key in workspace, key
	assert workspace["doctype"] == "Workspace"
	assert workspace["name"] == workspace["label"] == workspace["title"]
	assert workspace["owner"] == "Administrator"
	# public and for nobody in particular: what an app ships (Workspace.on_update exports only those)
	assert workspace["public"] == 1 and workspace["for_user"] == "" and not workspace["parent_page"]
	assert workspace["module"] in modules_txt()
	# frappe/model/sync.py get_doc_files: <module>/workspace/<scrub(name)>/<scrub(name)>.json
	assert (APP / scrub(workspace["module"]) / "workspace" / scrub(name) / f"{scrub(name)}.json").is_file()


@pytest.mark.parametrize("name", WORKSPACE_IDS)
def test_workspace_blocks_shortcuts_and_links_point_at_real_things(name):
	workspace = WORKSPACES[name]
	content = json.loads(workspace["content"])  # Workspace.validate: the content is a JSON list
	assert isinstance(content, list)
	ids = [block["id"] for block in content]
	assert len(ids) == len(set(ids))
	for block in content:
		assert block["type"] in (
			"header",
			"paragraph",
			"spacer",
			"shortcut",
			"card",
			"chart",
			"number_card",
			"quick_list",
			"onboarding",
			"custom_block",
		), block
	shortcuts = [s["label"] for s in workspace["shortcuts"]]
	cards = [link["label"] for link in workspace["links"] if link["type"] == "Card Break"]
	assert sorted(b["data"]["shortcut_name"] for b in content if b["type"] == "shortcut") == sorted(shortcuts)
	assert sorted(b["data"]["card_name"] for b in content if b["type"] == "card") == sorted(cards)
	targets = {"DocType": set(DOCTYPES) | FRAPPE_DOCTYPES, "Report": set(REPORTS)}
	for shortcut in workspace["shortcuts"]:
		assert shortcut["link_to"] in targets[shortcut["type"]], shortcut
	groups = []
	for link in workspace["links"]:
		if link["type"] == "Card Break":
			groups.append((link, []))
		else:
			assert link["type"] == "Link" and groups, link
			groups[-1][1].append(link)
	for card, items in groups:
		# Workspace.build_links_table_from_card: a card's link_count is the number of links under it
		assert items and card["link_count"] == len(items), card["label"]
		for item in items:
			assert item["link_to"] in targets[item["link_type"]], item
			if item["link_type"] == "Report":  # Script and Query Reports open as query reports
				query = REPORTS[item["link_to"]]["report_type"] in ("Script Report", "Query Report")
				assert item["is_query_report"] == int(query), item


def test_ledger_workspace_reaches_every_desk_doctype_and_report():
	workspace = WORKSPACES["Ledger"]
	linked = {link["link_to"] for link in workspace["links"] if link["type"] == "Link"}
	assert {name for name, meta in DOCTYPES.items() if not meta.get("istable")} | set(REPORTS) <= linked
	shortcuts = {s["link_to"] for s in workspace["shortcuts"]}
	assert {
		"Fleet Driver",
		"Fleet Vehicle",
		"Unmatched Payment",
		"Driver Balances",
		"Client Exchange Position",
	} <= shortcuts
	cards = {}
	for link in workspace["links"]:
		if link["type"] == "Card Break":
			card = cards.setdefault(link["label"], set())
		else:
			card.add(link["link_to"])
	assert {
		"Client",
		"Client Exchange",
		"Balance Record",
		"Loss Snapshot",
		"Client Exchange Position",
	} <= cards["Clients"]


# --- hooks.py and patches.txt -----------------------------------------------------------------


def hook_values() -> dict:
	values = {}
	for node in ast.parse((APP / "hooks.py").read_text()).body:
		if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
			values[node.targets[0].id] = ast.literal_eval(node.value)
	return values


def dotted_paths(value):
	if isinstance(value, str):
		yield value
	elif isinstance(value, (list, tuple)):
		for item in value:
			yield from dotted_paths(item)
	elif isinstance(value, dict):
		for item in value.values():
			yield from dotted_paths(item)


def module_source(dotted_module: str) -> Path | None:
	parts = dotted_module.split(".")
	if parts[0] != "ledger_app":
		return None
	base = APP.parent.joinpath(*parts)
	for candidate in (base.with_suffix(".py"), base / "__init__.py"):
		if candidate.is_file():
			return candidate
	return None


def defines(path: Path, name: str) -> bool:
	"""Whether the module at ``path`` binds ``name`` at top level (def, assignment or import);
	read with ast, because such modules may need Frappe to import."""
	for node in ast.parse(path.read_text()).body:
		if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
			return True
		if isinstance(node, ast.Assign) and any(
			isinstance(t, ast.Name) and t.id == name for t in node.targets
		):
			return True
		if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
			(a.asname or a.name) == name for a in node.names
		):
			return True
	return False


def assert_function_exists(dotted: str):
	module, _, function = dotted.rpartition(".")
	path = module_source(module)
	assert path is not None, f"{dotted}: no module {module} in the app"
	assert defines(path, function), f"{dotted}: {path} defines no {function}"


def test_hooks_identify_the_app():
	hooks = hook_values()
	assert hooks["app_name"] == "ledger_app" == APP.name
	assert hooks["app_title"] == "Ledger App"
	for key in ("app_publisher", "app_description", "app_email", "app_license"):
		assert hooks[key], key
	assert hooks["export_python_type_annotations"] is True
	cron = hooks["scheduler_events"]["cron"]
	assert "ledger_app.jobs.reconcile_all" in cron["*/15 * * * *"]
	assert "ledger_app.jobs.daily_targets" in [path for paths in cron.values() for path in paths]


@pytest.mark.parametrize(
	"hook",
	[
		"after_install",
		"before_install",
		"after_migrate",
		"before_migrate",
		"scheduler_events",
		"doc_events",
		"before_tests",
		"override_whitelisted_methods",
		"before_request",
		"after_request",
	],
)
def test_every_hook_path_names_an_existing_function(hook):
	value = hook_values().get(hook)
	for dotted in dotted_paths(value or []):
		assert_function_exists(dotted)


def test_patches_txt_has_both_sections_and_every_patch_has_execute():
	# frappe.modules.patch_handler reads it with ConfigParser(allow_no_value=True, delimiters="\n")
	parser = configparser.ConfigParser(allow_no_value=True, delimiters="\n")
	parser.optionxform = str
	parser.read_string((APP / "patches.txt").read_text())
	assert parser.sections() == ["pre_model_sync", "post_model_sync"]
	post = [line.split(maxsplit=1)[0] for line in parser["post_model_sync"]]
	assert "ledger_app.patches.v0_1.apply_constraints" in post
	for section in parser.sections():
		for line in parser[section]:
			patch = line.split(maxsplit=1)[0]
			if not patch.startswith("execute:"):
				assert_function_exists(patch + ".execute")


def test_app_packages_bench_expects_exist():
	for path in ("config/__init__.py", "public/.gitkeep", "patches/__init__.py", "patches/v0_1/__init__.py"):
		assert (APP / path).is_file(), path
	assert (APP / "modules.txt").read_text().split() == ["Ledger"]


# --- schema generated from the JSON ------------------------------------------------------------


@pytest.mark.parametrize(
	"dialect, expected",
	[
		(
			"mariadb",
			[
				"`name` bigint primary key",
				"`creation` datetime(6)",
				"`docstatus` int(1) not null default '0'",
				"`idx` int(8) not null default '0'",
				"`account` varchar(140)",
				"`amount` decimal(21,9) NOT NULL DEFAULT 0",
				"`balance_after` decimal(21,9) NOT NULL DEFAULT 0",
				"`posting_datetime` datetime(6)",
				"`parent` varchar(140)",
				"`parentfield` varchar(140)",
				"`parenttype` varchar(140)",
				"index `account`(`account`)",
				"index `parent`(`parent`)",
				"index `modified`(`modified`)",
				"ENGINE=InnoDB ROW_FORMAT=DYNAMIC CHARACTER SET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
			],
		),
		(
			"postgres",
			[
				"`name` bigint primary key",
				"`creation` timestamp(6)",
				"`docstatus` smallint not null default '0'",
				"`idx` bigint not null default '0'",
				"`account` varchar(140)",
				"`amount` decimal(21,9) NOT NULL DEFAULT 0",
				"`posting_datetime` timestamp",
				"`parent` varchar(140)",
			],
		),
		(
			"sqlite",
			[
				"`name` INTEGER PRIMARY KEY AUTOINCREMENT",
				"`account` TEXT",
				"`amount` TEXT NOT NULL DEFAULT '0'",
				"`balance_after` TEXT NOT NULL DEFAULT '0'",
				"`posting_datetime` TEXT",
				"`docstatus` INTEGER NOT NULL DEFAULT 0",
				"`parent` TEXT",
				"CONSTRAINT `ledger_posting_amount_nonzero` CHECK (CAST(amount AS REAL) <> 0)",
			],
		),
	],
)
def test_ledger_posting_ddl_uses_frappe_column_types(dialect, expected):
	statements = schema.create_table_sql(DOCTYPES["Ledger Posting"], dialect)
	create = next(s for s in statements if s.startswith("CREATE TABLE IF NOT EXISTS `tabLedger Posting`"))
	for fragment in expected:
		assert fragment in create, fragment
	assert "_user_tags" not in create  # child tables have no optional columns
	if dialect != "sqlite":
		# autoincrement: Frappe names rows from the sequence <scrub(doctype)>_id_seq
		assert statements[0].startswith("CREATE SEQUENCE IF NOT EXISTS `ledger_posting_id_seq`")
	if dialect != "mariadb":
		assert any("ON `tabLedger Posting` (`account`)" in s for s in statements)
		assert any("ON `tabLedger Posting` (`parent`)" in s for s in statements)
		assert any("ON `tabLedger Posting` (`modified`)" in s for s in statements)


@pytest.mark.parametrize("dialect", constraints.DIALECTS)
def test_parent_tables_get_frappe_optional_columns_and_inline_unique_keys(dialect):
	create = schema.create_table_sql(DOCTYPES["Ledger Transaction"], dialect)
	table = next(s for s in create if s.startswith("CREATE TABLE"))
	for column in ("_user_tags", "_comments", "_assign", "_liked_by"):
		assert f"`{column}`" in table
	assert "`parent`" not in table
	reversal_of = next(line for line in table.splitlines() if line.strip().startswith("`reversal_of`"))
	assert reversal_of.rstrip(",").endswith("UNIQUE"), reversal_of
	for column in ("remarks", "idempotency_key"):  # a key is unique with its scope: constraints.py
		line = next(line for line in table.splitlines() if line.strip().startswith(f"`{column}`"))
		assert "UNIQUE" not in line, line
	name = next(line for line in table.splitlines() if line.strip().startswith("`name`"))
	assert "bigint" not in name and "INTEGER" not in name  # hash names


@pytest.mark.parametrize("dialect", constraints.DIALECTS)
def test_defaults_and_not_null_follow_frappe(dialect):
	create = next(
		s for s in schema.create_table_sql(DOCTYPES["Callback Log"], dialect) if s.startswith("CREATE TABLE")
	)
	assert "`status` " in create and "DEFAULT 'Received'" in create
	assert "NOT NULL DEFAULT 0" in next(line for line in create.splitlines() if "`http_status`" in line)
	account = next(
		s
		for s in schema.create_table_sql(DOCTYPES["Ledger Account"], dialect)
		if s.startswith("CREATE TABLE")
	)
	assert "DEFAULT 'KES'" in next(line for line in account.splitlines() if "`currency`" in line)


def test_singles_have_no_table_and_share_frappes_tabsingles():
	assert schema.create_table_sql(DOCTYPES["Ledger Settings"], "mariadb") == []
	mariadb = schema.singles_table_sql("mariadb")[0]
	assert "`doctype` varchar(255) DEFAULT NULL" in mariadb
	assert "`field` varchar(255) DEFAULT NULL" in mariadb
	assert "`value` longtext" in mariadb
	assert "KEY `singles_doctype_field_index` (`doctype`, `field`)" in mariadb
	postgres = schema.singles_table_sql("postgres")
	assert "`value` text" in postgres[0]
	assert postgres[1].endswith("ON `tabSingles` (`doctype`, `field`)")


def test_constraints_name_existing_tables_and_columns():
	names = [c.name for c in constraints.CONSTRAINTS]
	assert len(names) == len(set(names))
	for constraint in constraints.CONSTRAINTS:
		doctype = constraint.table.removeprefix("tab")
		assert doctype in DOCTYPES, constraint
		columns = {name for name, _ in schema.table_columns(DOCTYPES[doctype], "mariadb")}
		for column in getattr(constraint, "columns", ()):
			assert column in columns, (constraint, column)
		if isinstance(constraint, constraints.PartialUnique):  # its generated columns take the key's type
			types = dict(schema.table_columns(DOCTYPES[doctype], "mariadb"))
			assert {types[column].split(" ")[0] for column in constraint.columns} == {constraint.generated_type}
	declared = {c.name: c for c in constraints.CONSTRAINTS}
	assert declared["posting_account_name"].columns == ("account", "name")
	assert declared["posting_account_datetime"].columns == ("account", "posting_datetime")
	assert declared["posting_account_seq"].columns == ("account", "account_seq")
	assert declared["posting_account_seq"].unique


def test_constraint_statements_per_dialect():
	index = constraints.Index("posting_account_name", "tabLedger Posting", ("account", "name"))
	assert constraints.statements(index, "mariadb") == [
		"ALTER TABLE `tabLedger Posting` ADD INDEX IF NOT EXISTS `posting_account_name` (`account`, `name`)"
	]
	assert constraints.statements(index, "postgres") == [
		"CREATE INDEX IF NOT EXISTS `posting_account_name` ON `tabLedger Posting` (`account`, `name`)"
	]
	partial = constraints.PartialUnique("one_open_per_party", "tabLedger Account", ("party",), "frozen = 0")
	assert constraints.statements(partial, "sqlite") == [
		"CREATE UNIQUE INDEX IF NOT EXISTS `one_open_per_party` ON `tabLedger Account` (`party`) WHERE frozen = 0"
	]
	# MariaDB has no partial index: a generated column, NULL outside the condition, carries the key
	assert constraints.statements(partial, "mariadb") == [
		(
			"ALTER TABLE `tabLedger Account` ADD COLUMN IF NOT EXISTS `_one_open_per_party` varchar(140)"
			" AS (IF(frozen = 0, `party`, NULL)) PERSISTENT"
		),
		"ALTER TABLE `tabLedger Account` ADD UNIQUE INDEX IF NOT EXISTS `one_open_per_party` (`_one_open_per_party`)",
	]
	check = next(c for c in constraints.CONSTRAINTS if c.name == "ledger_posting_amount_nonzero")
	assert constraints.statements(check, "postgres") == [
		"ALTER TABLE `tabLedger Posting` ADD CONSTRAINT `ledger_posting_amount_nonzero` CHECK (amount <> 0)"
	]
	assert constraints.statements(check, "sqlite") == []  # inline in CREATE TABLE instead
	assert constraints.checks_for_table("tabLedger Posting", "sqlite") == [
		"CONSTRAINT `ledger_posting_amount_nonzero` CHECK (CAST(amount AS REAL) <> 0)"
	]


def test_autoincrement_names_come_from_frappes_sequence():
	assert schema.sequence_name("Ledger Posting") == "ledger_posting_id_seq"
	assert schema.autoincrement_name_expr("Ledger Posting", "mariadb") == "NEXTVAL(`ledger_posting_id_seq`)"
	assert schema.autoincrement_name_expr("Ledger Posting", "postgres") == "nextval('ledger_posting_id_seq')"
	assert schema.autoincrement_name_expr("Ledger Posting", "sqlite") is None


@pytest.mark.parametrize("dialect", constraints.DIALECTS)
def test_virtual_fields_get_no_column_and_no_index(dialect):
	# frappe/database/schema.py, DBTable.get_columns_from_docfields: "if field.get('is_virtual'): continue"
	meta = DOCTYPES["Fleet Driver"]
	columns = {name for name, _ in schema.table_columns(meta, dialect)}
	assert not columns & VIRTUAL_FIELDS["Fleet Driver"]
	assert {"driver_id", "daily_target", "target_account", "consecutive_misses"} <= columns
	create = "\n".join(schema.create_table_sql(meta, dialect))
	for fieldname in VIRTUAL_FIELDS["Fleet Driver"]:
		assert f"`{fieldname}`" not in create, fieldname
	# whatever flags a virtual field carries, it gets neither a column nor an index
	probe = json.loads(json.dumps(meta))
	probe["fields"] += [
		{"fieldname": "probe_code", "fieldtype": "Data", "is_virtual": 1, "unique": 1},
		{
			"fieldname": "probe_ref",
			"fieldtype": "Link",
			"options": "Fleet Driver",
			"is_virtual": 1,
			"search_index": 1,
		},
		{"fieldname": "probe_total", "fieldtype": "Currency", "is_virtual": 1, "default": "5"},
	]
	assert schema.table_columns(probe, dialect) == schema.table_columns(meta, dialect)
	assert schema.wanted_indexes(probe, dialect) == schema.wanted_indexes(meta, dialect)
	assert schema.create_table_sql(probe, dialect) == schema.create_table_sql(meta, dialect)
	assert [f["fieldname"] for f in schema.value_fields(probe)] == [
		f["fieldname"] for f in schema.value_fields(meta)
	]


# --- ensure_schema on real databases ----------------------------------------------------------


def tables_and_indexes(db) -> dict:
	result = {}
	for meta in DOCTYPES.values():
		if meta.get("issingle"):
			continue
		table = schema.table_name(meta["name"])
		result[table] = (
			sorted(catalog.columns(db, table)),
			sorted((i.columns, i.unique) for i in catalog.indexes(db, table)),
		)
	return result


def test_ensure_schema_twice_builds_every_table_once(db_url):
	pool = ConnectionPool(db_url)
	try:
		with pool.connection() as db:
			schema.ensure_schema(db)
			first = tables_and_indexes(db)
			schema.ensure_schema(db)
			assert tables_and_indexes(db) == first
			assert catalog.table_exists(db, "tabSingles")
			assert not catalog.table_exists(db, "tabLedger Settings")
			for meta in DOCTYPES.values():
				if meta.get("issingle"):
					continue
				table = schema.table_name(meta["name"])
				expected = {name for name, _ in schema.table_columns(meta, db.dialect.name)}
				if db.dialect.name == "mariadb":  # a partial unique key's generated columns
					expected |= {
						c.generated_column(column)
						for c in constraints.CONSTRAINTS
						if isinstance(c, constraints.PartialUnique) and c.table == table
						for column in c.columns
					}
				assert set(first[table][0]) == expected
				for _, columns, unique in schema.wanted_indexes(meta, db.dialect.name):
					assert catalog.has_index_on(db, table, columns, unique), (table, columns)
			for constraint in constraints.CONSTRAINTS:
				assert constraints.exists(db, constraint), constraint.name
	finally:
		pool.dispose()


def test_constraints_hold_on_the_generated_schema(db_url):
	pool = ConnectionPool(db_url)
	try:
		with pool.connection() as db:
			schema.ensure_schema(db)
			db.sql(
				"INSERT INTO `tabLedger Account` (name, account_name, root_type, normal_side)"
				" VALUES ('Paybill', 'Paybill', 'Asset', 'Debit')"
			)
			with pytest.raises(Exception):
				db.sql(
					"INSERT INTO `tabLedger Account` (name, account_name, root_type, normal_side)"
					" VALUES ('Odd', 'Odd', 'Asset', 'Sideways')"
				)
			with pytest.raises(Exception):  # account_name is unique
				db.sql(
					"INSERT INTO `tabLedger Account` (name, account_name, root_type, normal_side)"
					" VALUES ('Paybill 2', 'Paybill', 'Asset', 'Debit')"
				)
			expr = schema.autoincrement_name_expr("Ledger Posting", db.dialect.name)
			name_column, name_value = ("name, ", f"{expr}, ") if expr else ("", "")

			def post(amount, seq):
				db.sql(
					f"INSERT INTO `tabLedger Posting` ({name_column}account, account_seq, amount, parent, parentfield,"
					f" parenttype) VALUES ({name_value}'Paybill', %(seq)s, %(amount)s, 'T1', 'postings', 'Ledger Transaction')",
					{"amount": amount, "seq": seq},
				)

			post("10.50", 1)
			post("-10.50", 2)
			with pytest.raises(Exception):  # a posting of zero is no posting
				post("0.00", 3)
			with pytest.raises(Exception):  # one posting per position in the account's history
				post("1.00", 2)
			rows = db.sql(
				f"SELECT name, {db.dialect.money('amount')} AS amount FROM `tabLedger Posting` ORDER BY name"
			)
			assert [int(r["name"]) for r in rows] == [1, 2]  # autoincrement names
			from decimal import Decimal

			assert [Decimal(r["amount"]) for r in rows] == [Decimal("10.50"), Decimal("-10.50")]
	finally:
		pool.dispose()


def test_ensure_schema_upgrades_an_older_table(db_url):
	pool = ConnectionPool(db_url)
	try:
		with pool.connection() as db:
			dialect = db.dialect.name
			old = json.loads(json.dumps(DOCTYPES["Callback Log"]))
			old["fields"] = [f for f in old["fields"] if f["fieldname"] not in ("reference", "http_status")]
			for statement in schema.create_table_sql(old, dialect):
				db.sql(statement)
			db.sql("INSERT INTO `tabCallback Log` (name, endpoint) VALUES ('old-1', 'c2b_confirmation')")
			assert "reference" not in catalog.columns(db, "tabCallback Log")

			schema.ensure_schema(db)

			assert {"reference", "http_status"} <= catalog.columns(db, "tabCallback Log")
			assert catalog.has_index_on(db, "tabCallback Log", ("reference",), unique=False)
			row = db.sql("SELECT endpoint, http_status, status FROM `tabCallback Log` WHERE name = 'old-1'")[
				0
			]
			assert row["endpoint"] == "c2b_confirmation" and int(row["http_status"]) == 0
	finally:
		pool.dispose()


def test_partial_unique_allows_one_row_per_key_where_the_condition_holds(db_url):
	pool = ConnectionPool(db_url)
	partial = constraints.PartialUnique(
		"test_one_open_per_party", "tabLedger Account", ("party",), "frozen = 0"
	)
	try:
		with pool.connection() as db:
			schema.ensure_schema(db)
			assert constraints.apply_all(db, [partial]) == ["test_one_open_per_party"]
			assert constraints.apply_all(db, [partial]) == []

			def add(name, frozen):
				db.sql(
					"INSERT INTO `tabLedger Account` (name, account_name, root_type, normal_side, party, frozen)"
					" VALUES (%(name)s, %(name)s, 'Liability', 'Credit', 'Driver 1', %(frozen)s)",
					{"name": name, "frozen": frozen},
				)

			add("open", 0)
			add("closed 1", 1)
			add("closed 2", 1)
			with pytest.raises(Exception):
				add("open again", 0)
			db.sql("UPDATE `tabLedger Account` SET frozen = 1 WHERE name = 'open'")
			add("open again", 0)
	finally:
		pool.dispose()


def _ensure_schema_in_a_process(url, barrier, failures):
	try:
		pool = ConnectionPool(url, size=1, overflow=0)
		try:
			with pool.connection() as db:
				barrier.wait(timeout=60)
				schema.ensure_schema(db)
		finally:
			pool.dispose()
	except BaseException as exc:
		barrier.abort()  # the others stop waiting for this one
		failures.put(f"{type(exc).__name__}: {exc}")
		raise


def test_processes_racing_ensure_schema_leave_one_correct_schema(db_url):
	context = multiprocessing.get_context("spawn")
	barrier, failures = context.Barrier(3), context.Queue()
	processes = [
		context.Process(target=_ensure_schema_in_a_process, args=(db_url, barrier, failures)) for _ in range(3)
	]
	for process in processes:
		process.start()
	for process in processes:
		process.join(timeout=120)
	reported = []
	while not failures.empty():
		reported.append(failures.get())
	assert [p.exitcode for p in processes] == [0, 0, 0], reported

	pool = ConnectionPool(db_url)
	try:
		with pool.connection() as db:
			raced = tables_and_indexes(db)
			schema.ensure_schema(db)
			assert tables_and_indexes(db) == raced
			for constraint in constraints.CONSTRAINTS:
				assert constraints.exists(db, constraint), constraint.name
	finally:
		pool.dispose()


def test_virtual_fields_have_no_column_on_the_database(db_url):
	pool = ConnectionPool(db_url)
	try:
		with pool.connection() as db:
			schema.ensure_schema(db)
			columns = catalog.columns(db, "tabFleet Driver")
			assert {"driver_id", "payable_account", "deposit_account", "last_target_date"} <= columns
			assert not columns & VIRTUAL_FIELDS["Fleet Driver"]
			schema.ensure_schema(db)  # an upgrade run never adds them either
			assert not catalog.columns(db, "tabFleet Driver") & VIRTUAL_FIELDS["Fleet Driver"]
			for table in ("tabFleet Vehicle", "tabUnmatched Payment"):
				assert catalog.table_exists(db, table)
	finally:
		pool.dispose()


# --- client exchanges --------------------------------------------------------------------------------

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


def test_client_doctypes_follow_the_spec():
	assert DOCTYPES["Client"]["autoname"] == "field:client_id"
	assert DOCTYPES["Client Exchange"]["autoname"] == "field:client_exchange_id"
	for name in ("Balance Record", "Loss Snapshot"):
		assert DOCTYPES[name]["autoname"] == "hash" and DOCTYPES[name]["naming_rule"] == "Random"
	assert DOCTYPES["Loss Settlement"].get("istable")

	def fields(name):
		return {f["fieldname"]: f for f in DOCTYPES[name]["fields"]}

	client = fields("Client")
	assert client["client_id"].get("reqd") and client["client_id"].get("unique")
	assert client["client_name"].get("reqd") and client["client_name"].get("in_list_view")
	assert client["phone"].get("reqd")
	exchange = fields("Client Exchange")
	assert exchange["client"]["options"] == "Client" and exchange["client"].get("reqd")
	assert exchange["exchange"].get("reqd") and exchange["exchange"].get("in_list_view")
	for fieldname in ("my_share_pct", "company_share_pct"):
		assert exchange[fieldname].get("reqd")
	for fieldname in ("capital_account", "payable_account"):
		assert exchange[fieldname]["options"] == "Ledger Account" and exchange[fieldname].get("read_only")
	record = fields("Balance Record")
	assert record["client_exchange"]["options"] == "Client Exchange"
	assert record["client_exchange"].get("reqd") and record["client_exchange"].get("search_index")
	assert record["date"].get("reqd")
	assert record["profit_withdrawal_id"].get("unique") and not record["profit_withdrawal_id"].get("reqd")
	assert record["idempotency_key"].get("unique") and record["idempotency_key"].get("reqd")
	assert record["loss_snapshot"]["options"] == "Loss Snapshot"
	assert record["withdrawal_transaction"]["options"] == "Ledger Transaction"
	assert record["payout"]["options"] == "Payout"
	snapshot = fields("Loss Snapshot")
	assert snapshot["client_exchange"].get("search_index") and snapshot["client_exchange"].get("reqd")
	assert snapshot["balance_record"]["options"] == "Balance Record"
	assert snapshot["balance_record"].get("unique") and snapshot["balance_record"].get("reqd")
	assert snapshot["settlements"]["options"] == "Loss Settlement"
	settlement = fields("Loss Settlement")
	assert settlement["idempotency_key"].get("unique")
	assert settlement["ledger_transaction"]["options"] == "Ledger Transaction"


def test_desk_permissions_for_clients_and_their_records():
	def perm(doctype, role):
		return next((p for p in DOCTYPES[doctype]["permissions"] if p["role"] == role), {})

	for doctype in ("Client", "Client Exchange"):
		manager, user = perm(doctype, "Ledger Manager"), perm(doctype, "Ledger User")
		assert (
			manager.get("create") and manager.get("write") and manager.get("read") and manager.get("report")
		)
		assert user.get("read") and user.get("report")
		assert not any(user.get(k) for k in ("create", "write", "delete", "import")), (doctype, user)
		assert not any(p.get("delete") for p in DOCTYPES[doctype]["permissions"]), doctype
	# the engine writes balance records and loss snapshots; desk only reads them
	for doctype in ("Balance Record", "Loss Snapshot"):
		meta = DOCTYPES[doctype]
		assert meta.get("in_create")
		for p in meta["permissions"]:
			assert not any(p.get(k) for k in ("create", "write", "delete", "import")), (doctype, p)
		assert perm(doctype, "Ledger Manager").get("read") and perm(doctype, "Ledger User").get("read")
		assert all(f.get("read_only") for f in value_fields(meta)), doctype
	assert all(f.get("read_only") for f in value_fields(DOCTYPES["Loss Settlement"]))


def test_client_exchange_controller_keeps_every_engine_field():
	stored_read_only = {
		f["fieldname"]
		for f in value_fields(DOCTYPES["Client Exchange"])
		if f.get("read_only") and not f.get("is_virtual")
	}
	path = controller_path("Client Exchange")
	assert set(module_constant(path, "ENGINE_FIELDS")) == stored_read_only
	assert set(module_constant(path, "POSITION_FIELDS")) == VIRTUAL_FIELDS["Client Exchange"]


def test_client_exchange_position_report_columns_and_imports():
	report = REPORTS["Client Exchange Position"]
	assert report["ref_doctype"] == "Client Exchange" and report["report_type"] == "Script Report"
	assert {r["role"] for r in report["roles"]} == {"Ledger Manager", "Ledger User"}
	source = report_folder("Client Exchange Position") / "client_exchange_position.py"
	columns = report_columns(source)
	assert [c["fieldname"] for c in columns] == CLIENT_POSITION_COLUMNS
	assert columns[0]["fieldtype"] == "Link" and columns[0]["options"] == "Client Exchange"
	assert {c["fieldtype"] for c in columns[3:]} == {"Currency"}
	for node in ast.parse(source.read_text()).body:
		if isinstance(node, ast.ImportFrom):
			assert node.module.split(".")[0] == "frappe", node.module
		elif isinstance(node, ast.Import):
			assert all(a.name.split(".")[0] == "frappe" for a in node.names)
	assert "positions_report" in source.read_text()


def test_client_constraints_are_declared():
	declared = {c.name: c for c in constraints.CONSTRAINTS}
	one_active = declared["one_active_loss"]
	assert isinstance(one_active, constraints.PartialUnique)
	assert (one_active.table, one_active.columns, one_active.where) == (
		"tabLoss Snapshot",
		("client_exchange",),
		"is_settled = 0",
	)
	per_day = declared["balance_record_exchange_date"]
	assert isinstance(per_day, constraints.Index) and per_day.unique
	assert (per_day.table, per_day.columns) == ("tabBalance Record", ("client_exchange", "date"))


def test_client_constraints_hold_on_the_generated_schema(db_url):
	from ledger_app.engine.errors import UniqueViolation

	pool = ConnectionPool(db_url)
	try:
		with pool.connection() as db:
			schema.ensure_schema(db)

			def record(name, exchange, date):
				db.sql(
					"INSERT INTO `tabBalance Record` (name, client_exchange, date, idempotency_key)"
					" VALUES (%(name)s, %(exchange)s, %(date)s, %(name)s)",
					{"name": name, "exchange": exchange, "date": date},
				)

			def snapshot(name, exchange, settled, balance_record=None):
				db.sql(
					"INSERT INTO `tabLoss Snapshot` (name, client_exchange, balance_record, is_settled)"
					" VALUES (%(name)s, %(exchange)s, %(record)s, %(settled)s)",
					{
						"name": name,
						"exchange": exchange,
						"record": balance_record or name,
						"settled": settled,
					},
				)

			record("r1", "CX1", "2026-03-01")
			record("r2", "CX1", "2026-03-02")
			record("r3", "CX2", "2026-03-01")
			with pytest.raises(UniqueViolation):  # one balance record per exchange per day
				record("r4", "CX1", "2026-03-01")

			snapshot("r1", "CX1", 1)
			snapshot("r2", "CX1", 0)
			snapshot("r3", "CX2", 0)
			with pytest.raises(UniqueViolation):  # one active loss per exchange
				snapshot("r5", "CX1", 0)
			snapshot("r6", "CX1", 1)  # settled ones never clash
			with pytest.raises(UniqueViolation):  # balance_record is unique
				snapshot("s8", "CX2", 1, balance_record="r2")
			db.sql("UPDATE `tabLoss Snapshot` SET is_settled = 1 WHERE name = 'r2'")
			snapshot("r7", "CX1", 0)
	finally:
		pool.dispose()
