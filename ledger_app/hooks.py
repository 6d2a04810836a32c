app_name = "ledger_app"
app_title = "Ledger App"
app_publisher = "ledger_app developers"
app_description = (
	"Exact money for a mobile-money business: a double-entry ledger as a Frappe app and a standalone host"
)
app_email = "ledger-app@example.com"
app_license = "mit"

# Installation
# ------------

# roles, then the database constraints a doctype JSON cannot express (ledger_app/db/constraints.py)
after_install = "ledger_app.setup.install.after_install"
# the patch runs once per site; constraints declared later still reach every site on migrate
# (apply_all is idempotent: it only adds what is missing)
after_migrate = ["ledger_app.patches.v0_1.apply_constraints.execute"]

# Document Events
# ---------------
# none yet: doctype controllers stay thin and call the engine themselves

# doc_events = {}

# Permissions
# -----------
# an amended Ledger Transaction is refused with the reason before Frappe's create permission check
has_permission = {
	"Ledger Transaction": "ledger_app.ledger.doctype.ledger_transaction.ledger_transaction.has_permission",
}

# Scheduled Tasks
# ---------------

scheduler_events = {
	"all": [
		"ledger_app.jobs.dispatch_payouts",
		"ledger_app.jobs.sweep_payouts",
	],
	"cron": {
		"*/15 * * * *": [
			"ledger_app.jobs.reconcile_all",
		],
		# the start of the business day: Frappe runs cron in the site's time zone (set it to the
		# business time zone); the standalone scheduler uses LEDGER_APP_TIMEZONE
		"1 0 * * *": [
			"ledger_app.jobs.daily_targets",
		],
	},
}

# Automatically update python controller files with type annotations for this app.
export_python_type_annotations = True
