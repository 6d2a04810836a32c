"""The Frappe app as it lies on disk, read without a bench: shared by the layout and schema tests.

The doctype, report and workspace JSON files of ``ledger_app`` (found where Frappe's sync looks for
them), Frappe v15's field rules the tests check them against, and small readers of the controllers
(with ``ast``: they import Frappe).  Nothing here asserts; the ``test_layout_*`` and ``test_schema_*``
modules do.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

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
# the app's doctypes: a doctype added or removed is a decision the tests should see
APP_DOCTYPES = frozenset(
	{
		"Ledger Account",
		"Ledger Transaction",
		"Ledger Posting",
		"Ledger Settings",
		"Fleet Driver",
		"Fleet Vehicle",
		"Unmatched Payment",
		"Payout",
		"Callback Log",
		"Reconciliation Run",
		"Reconciliation Discrepancy",
		"Client",
		"Client Exchange",
		"Balance Record",
		"Loss Snapshot",
		"Loss Settlement",
	}
)

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
APP_ROLES = {"System Manager", "Ledger Manager", "Ledger User"}


def scrub(text: str) -> str:
	return text.replace(" ", "_").replace("-", "_").lower()


def doctype_files() -> list[Path]:
	return sorted(path for path in APP.glob("*/doctype/*/*.json") if path.stem == path.parent.name)


DOCTYPES = {json.loads(path.read_text())["name"]: json.loads(path.read_text()) for path in doctype_files()}
META_IDS = sorted(DOCTYPES)


def value_fields(meta):
	return [f for f in meta["fields"] if f["fieldtype"] not in NO_VALUE_FIELDS]


def fields_of(name: str) -> dict[str, dict]:
	"""The doctype's fields by fieldname."""
	return {f["fieldname"]: f for f in DOCTYPES[name]["fields"]}


def perm(doctype: str, role: str) -> dict:
	"""The doctype's permission row for ``role`` ({} when it has none)."""
	return next((p for p in DOCTYPES[doctype]["permissions"] if p["role"] == role), {})


def modules_txt() -> list[str]:
	return [line.strip() for line in (APP / "modules.txt").read_text().splitlines() if line.strip()]


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


def report_files() -> list[Path]:
	return sorted(path for path in APP.glob("*/report/*/*.json") if path.stem == path.parent.name)


REPORTS = {json.loads(path.read_text())["name"]: json.loads(path.read_text()) for path in report_files()}
REPORT_IDS = sorted(REPORTS)


def report_folder(name: str) -> Path:
	return APP / scrub(REPORTS[name]["module"]) / "report" / scrub(name)


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


def imports_only_frappe(path: Path) -> bool:
	"""Whether the module at ``path`` imports nothing but Frappe at top level."""
	for node in ast.parse(path.read_text()).body:
		if isinstance(node, ast.ImportFrom) and node.module.split(".")[0] != "frappe":
			return False
		if isinstance(node, ast.Import) and any(a.name.split(".")[0] != "frappe" for a in node.names):
			return False
	return True


def workspace_files() -> list[Path]:
	return sorted(path for path in APP.glob("*/workspace/*/*.json") if path.stem == path.parent.name)


WORKSPACES = {
	json.loads(path.read_text())["name"]: json.loads(path.read_text()) for path in workspace_files()
}
WORKSPACE_IDS = sorted(WORKSPACES)
