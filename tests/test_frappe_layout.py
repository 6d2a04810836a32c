"""The Frappe app layout: what `bench migrate` and `install-app` need, checked without a bench.

Every rule checked here is one Frappe v15 applies (file and function named in each test), so a
mistake shows here instead of on a bench.  The schema tests generate the standalone tables from the
same doctype JSON and check them against Frappe's column rules and on real databases.
"""

from __future__ import annotations

import ast
import configparser
import json
import multiprocessing
import sys
import types
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
}


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
	expected = {
		f["fieldname"] for f in meta["fields"] if f["fieldtype"] not in NO_VALUE_FIELDS - TABLE_FIELDS
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
	assert hooks["scheduler_events"] == {"cron": {"*/15 * * * *": ["ledger_app.jobs.reconcile_all"]}}


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


# --- install and the constraints patch, against a stand-in for frappe -------------------------


class FakeFrappeDB:
	"""Just enough of frappe.db for the patch and after_install, over sqlite3."""

	def __init__(self, conn):
		self.conn = conn
		self.db_type = "sqlite"
		self.log = []

	def sql(self, query, values=None, as_dict=False):
		import re

		self.log.append(query)
		query = re.sub(r"%\((\w+)\)s", r":\1", query)
		cursor = self.conn.execute(query, values or {})
		if cursor.description is None:
			return []
		names = [d[0] for d in cursor.description]
		return [dict(zip(names, row)) for row in cursor.fetchall()]

	def commit(self):
		self.log.append("COMMIT")

	def exists(self, doctype, name):
		return bool(self.sql(f"SELECT name FROM `tab{doctype}` WHERE name = %(n)s", {"n": name}))


def fake_frappe(monkeypatch, conn):
	frappe = types.ModuleType("frappe")
	frappe.db = FakeFrappeDB(conn)

	class Doc:
		def __init__(self, data):
			self.data = data

		def insert(self, ignore_permissions=False):
			frappe.db.sql(
				f"INSERT INTO `tab{self.data['doctype']}` (name, desk_access) VALUES (%(n)s, %(d)s)",
				{"n": self.data["role_name"], "d": self.data["desk_access"]},
			)

	frappe.get_doc = Doc
	monkeypatch.setitem(sys.modules, "frappe", frappe)
	return frappe


def test_after_install_creates_roles_and_applies_constraints(tmp_path, monkeypatch):
	import sqlite3

	url = f"sqlite:///{tmp_path / 'site.db'}"
	pool = ConnectionPool(url)
	with pool.connection() as db:
		# what Frappe's own sync would have created, minus our constraints
		for meta in schema.load_doctypes().values():
			for statement in schema.create_table_sql(meta, "sqlite"):
				db.sql(statement)
		db.sql("CREATE TABLE `tabRole` (name TEXT PRIMARY KEY, desk_access INTEGER)")
		db.sql("INSERT INTO `tabRole` VALUES ('Ledger User', 1)")
	pool.dispose()

	conn = sqlite3.connect(tmp_path / "site.db", isolation_level=None)
	frappe = fake_frappe(monkeypatch, conn)
	from ledger_app.setup.install import after_install

	after_install()
	after_install()  # idempotent

	roles = {row["name"] for row in frappe.db.sql("SELECT name FROM `tabRole`")}
	assert roles == {"Ledger Manager", "Ledger User"}
	ddl = [q for q in frappe.db.log if q.startswith(("CREATE", "ALTER"))]
	expected = sum(len(constraints.statements(c, "sqlite")) for c in constraints.CONSTRAINTS)
	assert len(ddl) == expected  # the indexes; SQLite CHECKs are inline
	for statement in ddl:  # every DDL statement right after a commit, as frappe.db.add_index does
		assert frappe.db.log[frappe.db.log.index(statement) - 1] == "COMMIT"
	catalog_db = types.SimpleNamespace(
		sql=lambda q, p=None: frappe.db.sql(q, p), dialect=types.SimpleNamespace(name="sqlite")
	)
	for constraint in constraints.CONSTRAINTS:
		assert constraints.exists(catalog_db, constraint), constraint.name
	conn.close()


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
	for column in ("idempotency_key", "reversal_of"):
		line = next(line for line in table.splitlines() if line.strip().startswith(f"`{column}`"))
		assert line.rstrip(",").endswith("UNIQUE"), line
	remarks = next(line for line in table.splitlines() if line.strip().startswith("`remarks`"))
	assert "UNIQUE" not in remarks
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


def _ensure_schema_in_a_process(url, barrier):
	pool = ConnectionPool(url, size=1, overflow=0)
	try:
		with pool.connection() as db:
			barrier.wait(timeout=60)
			schema.ensure_schema(db)
	finally:
		pool.dispose()


def test_processes_racing_ensure_schema_leave_one_correct_schema(db_url):
	context = multiprocessing.get_context("spawn")
	barrier = context.Barrier(3)
	processes = [
		context.Process(target=_ensure_schema_in_a_process, args=(db_url, barrier)) for _ in range(3)
	]
	for process in processes:
		process.start()
	for process in processes:
		process.join(timeout=120)
	assert [p.exitcode for p in processes] == [0, 0, 0]

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
