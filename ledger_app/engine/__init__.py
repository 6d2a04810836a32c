"""The engine: money rules and flows, with no framework import.

Modules, one per domain noun:
- ``money``: parsing and quantizing amounts (``Decimal``, 2 places, never float).
- ``errors``: one error type per kind of failure, each with the HTTP status Frappe would give it.
- ``txn_types``: the one registry of transaction types and their posting templates.
- ``accounts``: ledger accounts (create, look up, normal side).
- ``posting``: the one write path for money (post, reverse) and balance reads.
- ``reconcile``: proving every cached balance against the ledger, and fixing drift on request.
- ``settings``: reading Ledger Settings (a Frappe single) through the port.
"""
