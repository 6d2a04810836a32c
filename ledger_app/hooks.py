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

# roles, then the database constraints a doctype JSON cannot express (ledger_app/db/constraints.py);
# then this app's log doctypes listed in Log Settings (also after every migrate)
after_install = [
	"ledger_app.setup.install.after_install",
	"ledger_app.setup.install.register_log_clearing",
]
# the patch runs once per site; constraints declared later still reach every site on migrate
# (apply_all is idempotent: it only adds what is missing)
after_migrate = [
	"ledger_app.patches.v0_1.apply_constraints.execute",
	"ledger_app.setup.install.register_log_clearing",
]

# Requests
# --------

# a request whose body Frappe cannot parse (not JSON, or nested too deep for its parser) never reaches
# its method: a gateway callback is logged and answered as the method would; a staff call gets a 417
# instead of Frappe's 500; an overlong ledger_app method path is refused (417) before Frappe imports
# anything for it or authenticates it (ledger_app/host/frappe_callbacks.py)
before_request = ["ledger_app.host.frappe_callbacks.refuse_long_method_path"]
after_request = ["ledger_app.host.frappe_callbacks.answer_refused_body"]

# Log Settings clears Callback Log rows older than this many days (CallbackLog.clear_old_logs keeps
# Failed and Received ones); install and migrate list it in Log Settings (setup/install.py)
default_log_clearing_doctypes = {"Callback Log": 90}

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
		# confirmations spooled while the database was unreachable (also replayed before the next
		# confirmation; the standalone host replays every second while there are some)
		"* * * * *": [
			"ledger_app.jobs.replay_callback_spool",
		],
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
