"""The SQL of the engine and the Frappe layer names only what the doctype JSON defines.

The doctype JSON is the one declaration of every field: the schema is generated from it on the
standalone host and Frappe builds it inside a bench.  Here the app's SQL is read with ``ast`` and
held against it, so renaming or dropping a field in the JSON fails here, not on a query at run time:
every backticked name in an SQL string is a table of one of the app's doctypes, a column the
generated schema has, or an alias the same module defines; and every column read as money
(``dialect.money``, the exact text cast) is a stored Currency or Percent field.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ledger_app.db import schema
from tests.layout import APP, DOCTYPES

# the app's SQL: the engine, the Frappe layer (controllers, reports) and the scheduled jobs
SQL_SOURCES = sorted([*(APP / "engine").rglob("*.py"), *(APP / "ledger").rglob("*.py"), APP / "jobs.py"])
BACKTICKED = re.compile(r"`([^`{}]+)`")
ALIAS = re.compile(r"\bAS `([^`]+)`", re.IGNORECASE)
# Frappe's shared table of Single doctypes' values (schema.singles_table_sql)
SINGLES_COLUMNS = {"doctype", "field", "value"}
MONEY_FIELDTYPES = {"Currency", "Percent"}


def columns() -> set[str]:
	"""Every column of the generated schema, over all the app's tables (the dialect does not matter)."""
	return {
		name
		for meta in DOCTYPES.values()
		if not meta.get("issingle")
		for name, _ in schema.table_columns(meta, "mariadb")
	} | SINGLES_COLUMNS


def docstring_nodes(tree: ast.AST) -> set[int]:
	nodes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
	return {
		id(node.body[0].value)
		for node in ast.walk(tree)
		if isinstance(node, nodes)
		and node.body
		and isinstance(node.body[0], ast.Expr)
		and isinstance(node.body[0].value, ast.Constant)
	}


def code_strings(path: Path) -> list[str]:
	"""The string constants of a module (f-strings' constant parts too), its docstrings left out."""
	tree = ast.parse(path.read_text())
	docstrings = docstring_nodes(tree)
	return [
		node.value
		for node in ast.walk(tree)
		if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
	]


def money_reads(path: Path) -> set[str]:
	"""The backticked names inside the constant arguments of every ``<x>.money(...)`` call."""
	names = set()
	for node in ast.walk(ast.parse(path.read_text())):
		if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "money":
			for argument in node.args:
				for part in ast.walk(argument):
					if isinstance(part, ast.Constant) and isinstance(part.value, str):
						names |= set(BACKTICKED.findall(part.value))
	return names


def test_the_app_has_sql_to_check():
	assert len(SQL_SOURCES) > 10
	assert sum(len(money_reads(path)) for path in SQL_SOURCES) > 10


def test_sql_names_only_doctype_tables_and_generated_columns():
	known = columns() | {schema.table_name(name) for name in DOCTYPES}
	unknown = {}
	for path in SQL_SOURCES:
		strings = code_strings(path)
		aliases = {alias for text in strings for alias in ALIAS.findall(text)}
		names = {name for text in strings for name in BACKTICKED.findall(text)} - known - aliases
		if names:
			unknown[str(path.relative_to(APP))] = sorted(names)
	assert unknown == {}, "SQL names what no doctype JSON defines"


def test_columns_read_as_money_are_stored_currency_or_percent_fields():
	money_fields = {
		field["fieldname"]
		for meta in DOCTYPES.values()
		for field in meta["fields"]
		if field["fieldtype"] in MONEY_FIELDTYPES and not field.get("is_virtual")
	}
	not_money = {}
	for path in SQL_SOURCES:
		names = money_reads(path) - money_fields
		if names:
			not_money[str(path.relative_to(APP))] = sorted(names)
	assert not_money == {}
