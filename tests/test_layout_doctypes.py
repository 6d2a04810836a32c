"""The doctype JSON files are ones `bench migrate` imports as they are: checked without a bench.

Each rule is one Frappe v15 applies on import or save (file and function named in each test): where
a doctype sits, the keys of an export, field types, links, names, flags and field order; also that
no name is taken by Frappe, ERPNext, HRMS or Payments, and the few field choices the product relies
on (naming, statuses, defaults the engine reads).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.layout import (
	APP,
	APP_DOCTYPES,
	DOCTYPES,
	FRAPPE_DOCTYPES,
	META_IDS,
	NO_VALUE_FIELDS,
	RESERVED_FIELDNAMES,
	TABLE_FIELDS,
	V15_FIELDTYPES,
	VIRTUAL_FIELDS,
	fields_of,
	modules_txt,
	scrub,
)


def test_the_app_has_exactly_its_doctypes():
	assert set(DOCTYPES) == APP_DOCTYPES


# DocType names are global in a site: ours must not take one of Frappe, ERPNext, HRMS or Payments v15
# (installing over one replaces it, and every migrate flips it back). tests/data/taken-doctype-names.tsv
# lists theirs (app, module, name, path of the JSON in v15); names of doctypes planned are reserved here.
TAKEN_DOCTYPE_NAMES = Path(__file__).resolve().parent / "data" / "taken-doctype-names.tsv"
PLANNED_DOCTYPES = {"Phone Payment Request"}  # M-Pesa Express (STK push) payment requests, planned


def taken_doctype_names() -> dict[str, str]:
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
def test_doctype_module_is_listed_in_modules_txt(name):
	assert DOCTYPES[name]["module"] in modules_txt()


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


def test_ledger_settings_defaults_are_the_engines_defaults():
	# engine/settings.py falls back to the JSON default for a setting never saved
	fields = fields_of("Ledger Settings")
	for fieldname, default in SETTINGS_DEFAULTS.items():
		assert fields[fieldname].get("default") == default, fieldname
	assert not fields["global_daily_target"].get("default")


def test_drivers_and_vehicles_follow_the_spec():
	assert DOCTYPES["Fleet Driver"]["autoname"] == "field:driver_id"
	assert DOCTYPES["Fleet Vehicle"]["autoname"] == "field:vehicle_id"
	assert DOCTYPES["Unmatched Payment"]["autoname"] == "hash"
	driver = fields_of("Fleet Driver")
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
	vehicle = fields_of("Fleet Vehicle")
	assert vehicle["account_number"].get("unique") and vehicle["account_number"].get("reqd")
	assert vehicle["driver"]["options"] == vehicle["substitute_driver"]["options"] == "Fleet Driver"
	unmatched = fields_of("Unmatched Payment")
	assert unmatched["status"]["options"].split("\n") == ["Open", "Assigned", "Refund Requested", "Refunded"]
	assert unmatched["status"]["default"] == "Open" and unmatched["status"].get("search_index")
	assert unmatched["trans_id"].get("unique") and unmatched["trans_id"].get("reqd")


def test_client_doctypes_follow_the_spec():
	assert DOCTYPES["Client"]["autoname"] == "field:client_id"
	assert DOCTYPES["Client Exchange"]["autoname"] == "field:client_exchange_id"
	for name in ("Balance Record", "Loss Snapshot"):
		assert DOCTYPES[name]["autoname"] == "hash" and DOCTYPES[name]["naming_rule"] == "Random"
	assert DOCTYPES["Loss Settlement"].get("istable")

	client = fields_of("Client")
	assert client["client_id"].get("reqd") and client["client_id"].get("unique")
	assert client["client_name"].get("reqd") and client["client_name"].get("in_list_view")
	assert client["phone"].get("reqd")
	exchange = fields_of("Client Exchange")
	assert exchange["client"]["options"] == "Client" and exchange["client"].get("reqd")
	assert exchange["exchange"].get("reqd") and exchange["exchange"].get("in_list_view")
	for fieldname in ("my_share_pct", "company_share_pct"):
		assert exchange[fieldname].get("reqd")
	for fieldname in ("capital_account", "payable_account"):
		assert exchange[fieldname]["options"] == "Ledger Account" and exchange[fieldname].get("read_only")
	record = fields_of("Balance Record")
	assert record["client_exchange"]["options"] == "Client Exchange"
	assert record["client_exchange"].get("reqd") and record["client_exchange"].get("search_index")
	assert record["date"].get("reqd")
	assert record["profit_withdrawal_id"].get("unique") and not record["profit_withdrawal_id"].get("reqd")
	assert record["idempotency_key"].get("unique") and record["idempotency_key"].get("reqd")
	assert record["loss_snapshot"]["options"] == "Loss Snapshot"
	assert record["withdrawal_transaction"]["options"] == "Ledger Transaction"
	assert record["payout"]["options"] == "Payout"
	snapshot = fields_of("Loss Snapshot")
	assert snapshot["client_exchange"].get("search_index") and snapshot["client_exchange"].get("reqd")
	assert snapshot["balance_record"]["options"] == "Balance Record"
	assert snapshot["balance_record"].get("unique") and snapshot["balance_record"].get("reqd")
	assert snapshot["settlements"]["options"] == "Loss Settlement"
	settlement = fields_of("Loss Settlement")
	assert settlement["idempotency_key"].get("unique")
	assert settlement["ledger_transaction"]["options"] == "Ledger Transaction"
