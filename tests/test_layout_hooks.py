"""hooks.py, patches.txt and the app's packages are what `install-app` and `bench migrate` need.

hooks.py and the patch modules are read with ``ast`` (they may need Frappe to import): the app is
named as bench expects, every dotted path a hook or patch names is a function the app defines, and
patches.txt parses as Frappe's patch handler reads it.
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import pytest

from tests.layout import APP


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
