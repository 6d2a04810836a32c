"""Apply the constraints a doctype JSON cannot express (``ledger_app/db/constraints.py``)."""


class FrappeCatalog:
	"""The little of the database port that ``ledger_app.db.constraints`` needs, over ``frappe.db``."""

	def __init__(self, frappe):
		self.frappe = frappe
		self.dialect = type("Dialect", (), {"name": frappe.db.db_type})()

	def sql(self, query, params=None):
		if params:
			return self.frappe.db.sql(query, params, as_dict=True)
		return self.frappe.db.sql(query, as_dict=True)


def execute():
	import frappe

	from ledger_app.db import constraints

	def run_ddl(statement):
		# DDL commits implicitly on MariaDB, and Frappe raises ImplicitCommitError for DDL after
		# writes; commit first, as frappe.db.add_index and add_unique do
		frappe.db.commit()
		frappe.db.sql(statement)

	constraints.apply_all(FrappeCatalog(frappe), run_ddl=run_ddl)
