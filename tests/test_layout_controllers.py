"""Each doctype's controller and desk scripts are where Frappe v15 loads them from and agree with its JSON.

Read with ``ast`` (the controllers import Frappe): the class name Frappe imports, the generated type
annotations, properties that serve exactly the virtual fields, the engine-owned fields a controller
restores on save, and the form and list scripts Frappe loads.  What the controllers do on a real
site is proven by the in-app suite (``bench run-tests --app ledger_app``).
"""

from __future__ import annotations

import ast

import pytest

from tests.layout import (
	APP,
	DOCTYPES,
	META_IDS,
	NO_VALUE_FIELDS,
	TABLE_FIELDS,
	VIRTUAL_FIELDS,
	controller_class,
	controller_path,
	is_property,
	module_constant,
	scrub,
	value_fields,
)


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


def test_driver_controller_keeps_every_engine_field():
	# every stored read-only Driver field is written by the engine only; validate restores them all
	stored_read_only = {
		f["fieldname"]
		for f in value_fields(DOCTYPES["Fleet Driver"])
		if f.get("read_only") and not f.get("is_virtual")
	}
	assert set(module_constant(controller_path("Fleet Driver"), "ENGINE_FIELDS")) == stored_read_only


def test_client_exchange_controller_keeps_every_engine_field():
	stored_read_only = {
		f["fieldname"]
		for f in value_fields(DOCTYPES["Client Exchange"])
		if f.get("read_only") and not f.get("is_virtual")
	}
	path = controller_path("Client Exchange")
	assert set(module_constant(path, "ENGINE_FIELDS")) == stored_read_only
	assert set(module_constant(path, "POSITION_FIELDS")) == VIRTUAL_FIELDS["Client Exchange"]


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
