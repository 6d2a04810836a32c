"""In-app tests, run on a real site: ``bench --site S run-tests --app ledger_app``."""
