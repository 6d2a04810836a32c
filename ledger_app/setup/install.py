"""What ``bench --site S install-app ledger_app`` runs after the doctypes are synced
(``register_log_clearing`` runs after every migrate too)."""

ROLES = ("Ledger Manager", "Ledger User")


def after_install():
	import frappe

	for role in ROLES:
		if not frappe.db.exists("Role", role):
			frappe.get_doc({"doctype": "Role", "role_name": role, "desk_access": 1}).insert(
				ignore_permissions=True
			)

	# install-app marks every line of patches.txt as already run without running it, so the
	# constraints patch would never reach a new site: apply it here too (it is idempotent)
	from ledger_app.patches.v0_1.apply_constraints import execute

	execute()


def register_log_clearing():
	"""List this app's log doctypes in Log Settings with their default retention (hooks.py
	``default_log_clearing_doctypes``) now, not only when Log Settings is next saved or cleans up;
	a doctype already listed keeps the retention set there."""
	import frappe

	from ledger_app import hooks

	settings = frappe.get_doc("Log Settings")
	listed = {row.ref_doctype for row in settings.logs_to_clear}
	missing = {doctype: days for doctype, days in hooks.default_log_clearing_doctypes.items() if doctype not in listed}
	if not missing:
		return
	for doctype, days in missing.items():
		settings.register_doctype(doctype, days)
	settings.save(ignore_permissions=True)
