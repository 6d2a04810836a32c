"""What ``bench --site S install-app ledger_app`` runs after the doctypes are synced."""

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
