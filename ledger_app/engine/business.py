"""The business's own ledger accounts (the ones that belong to no party), declared in one place.

Created idempotently where they are first needed (a driver's accounts, a payment to suspense, a
payout) and by ``ledger-app init`` / ``serve``.
"""

from __future__ import annotations

from ledger_app.engine import accounts

PAYBILL = "M-Pesa Paybill"
TARGET_INCOME = "Daily Target Income"
SUSPENSE = "Unmatched Payments Suspense"
PAYOUTS_IN_FLIGHT = "Payouts In Flight"
B2C_UTILITY = "M-Pesa B2C Utility"
FUNDING_SOURCE = "Broker Funding Source"
EXCHANGE_LOSS = "Exchange Loss"
SETTLEMENT_RECEIPTS = "Settlement Receipts"
MY_SHARE_INCOME = "My Share Income"
COMPANY_SHARE_PAYABLE = "Company Share Payable"
EXCHANGE_WITHDRAWALS = "Exchange Withdrawals"

#: name -> (root type, account type, may go below zero)
ACCOUNTS = {
	PAYBILL: ("Asset", "Bank", False),
	TARGET_INCOME: ("Income", "Income", False),
	SUSPENSE: ("Liability", "Suspense", False),
	PAYOUTS_IN_FLIGHT: ("Liability", "Payouts In Flight", False),
	# funded by transfers the ledger does not see yet, so its balance may read below zero
	B2C_UTILITY: ("Asset", "Bank", True),
	# the broker's money that funds client exchange accounts (topped up outside the ledger)
	FUNDING_SOURCE: ("Asset", "Bank", True),
	EXCHANGE_LOSS: ("Expense", "Expense", False),
	SETTLEMENT_RECEIPTS: ("Asset", "Bank", False),
	MY_SHARE_INCOME: ("Income", "Income", False),
	COMPANY_SHARE_PAYABLE: ("Liability", "Payable", False),
	EXCHANGE_WITHDRAWALS: ("Asset", "Bank", False),
}


def ensure_business_accounts(db) -> None:
	"""Create any missing business account (inside the caller's transaction)."""
	existing = {row["name"] for row in db.sql(
		"SELECT `name` FROM `tabLedger Account` WHERE `name` IN (" + ", ".join(f"%(a{i})s" for i in range(len(ACCOUNTS))) + ")",
		{f"a{i}": name for i, name in enumerate(ACCOUNTS)},
	)}
	for name, (root_type, account_type, negative) in ACCOUNTS.items():
		if name not in existing:
			accounts.create_account(db, name, root_type, account_type=account_type, allow_negative_balance=negative)
