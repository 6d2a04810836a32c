"""Whitelisted methods, served at ``/api/method/ledger_app.api.<module>.<function>`` by both hosts.

Each method parses its arguments, calls one service, and responds; none touches SQL or balances.
Money goes out as decimal strings.
"""
