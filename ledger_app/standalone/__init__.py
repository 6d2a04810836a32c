"""The standalone host: the ``ledger-app`` CLI, a WSGI app serving the whitelisted methods at
Frappe's paths, the scheduler that runs hooks.py's ``scheduler_events``, and worker threads."""
