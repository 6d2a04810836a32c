"""Every write method raced by itself over real HTTP: 16 clients send one identical request at the
same moment (a thread and a ``requests.Session`` each, released by a barrier), on the standalone host
on SQLite, MariaDB and PostgreSQL and on the Frappe site.

Each answer must be one a client can use: 200 (the record, or the original for a repeated key) or a
409 with its reason, never a 5xx; and the database afterwards holds the effect of exactly ONE request
(one record, balances moved once, reconciliation clean).  Cheap races run for several rounds.  The
methods raced are checked against the registry both hosts dispatch from, so a new write method
without a race here fails ``test_every_write_method_is_raced``.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from ledger_app.engine import clients, drivers, payouts, posting
from ledger_app.engine import settings as ledger_settings
from ledger_app.engine.business import PAYOUTS_IN_FLIGHT, SUSPENSE
from tests.support import CALLBACK_TOKEN, books_clean, call, count, error_text, open_accounts, race, usable_answers

API = "ledger_app.api"
ROUNDS = 3


def one_round(base, method, payload, **options) -> list[dict]:
	"""One race of 16 identical requests; the 200 answers (at least one: the winner)."""
	answers = usable_answers(race(base, f"{API}.{method}", payload, **options))
	assert answers, "no request of the race succeeded"
	return answers


def the_same(answers: list[dict], *fields: str) -> dict:
	"""Every 200 answer names the same record (``fields`` equal in all of them); the first one."""
	assert len({tuple(str(a[f]) for f in fields) for a in answers}) == 1, answers
	return answers[0]


def new_driver(db, driver="RD1", account_number=None, **terms):
	drivers.upsert_driver(db, driver, f"Driver {driver}", "0712345678", target_sharing="Disable", **terms)
	if account_number:
		drivers.upsert_vehicle(db, f"V-{driver}", account_number, driver=driver)


def c2b(trans_id, amount, bill_ref):
	return {"TransactionType": "Pay Bill", "TransID": trans_id, "TransAmount": amount, "BillRefNumber": bill_ref,
		"TransTime": "20260301100000", "MSISDN": "254712345678"}


def funded_driver(db, driver="RD1", amount="500.00"):
	"""A driver with ``amount`` payable (target sharing off: the whole fare is the driver's)."""
	new_driver(db, driver, f"ACC{driver}")
	drivers.confirm_c2b(db, drivers.parse_c2b(c2b(f"QF{driver}", amount, f"ACC{driver}")))


def unmatched_payment(db, trans_id, amount="40.00") -> str:
	drivers.confirm_c2b(db, drivers.parse_c2b(c2b(trans_id, amount, "NO-SUCH-ACCOUNT")))
	return db.sql("SELECT `name` FROM `tabUnmatched Payment` WHERE `trans_id` = %(t)s", {"t": trans_id})[0]["name"]


def exchange(db, ce="RC1-BIN", capital="1000.00"):
	clients.upsert_client(db, "RC1", "Wanjiku", "0722000001")
	clients.upsert_client_exchange(db, ce, "RC1", "Binance", "1", "9")
	if capital:
		clients.fund(db, ce, capital, f"fund-{ce}")


def rows(db, doctype, where, params) -> list[dict]:
	return db.sql(f"SELECT * FROM `tab{doctype}` WHERE {where}", params)


# --- the races, one per write method ----------------------------------------------------------------


def race_create_account(base, pool):
	for r in range(ROUNDS):
		answers = one_round(base, "ledger.create_account", {"account": f"Race Cash {r}", "root_type": "Asset"})
		the_same(answers, "account", "root_type")
		assert sum(a["created"] for a in answers) <= 1
		with pool.connection() as db:
			assert len(rows(db, "Ledger Account", "`name` = %(n)s", {"n": f"Race Cash {r}"})) == 1


def race_post_journal(base, pool):
	with pool.connection() as db:
		open_accounts(db, ("Race Cash", "Asset"), ("Race Sales", "Income"))
	for r in range(ROUNDS):
		answers = one_round(base, "ledger.post_journal", {"idempotency_key": f"race-j{r}", "postings": [
			{"account": "Race Cash", "amount": "100.00"}, {"account": "Race Sales", "amount": "-100.00"}]})
		assert [a["duplicate"] for a in answers].count(False) == 1
		the_same(answers, "name")
		with pool.connection() as db:
			assert posting.balance(db, "Race Cash") == D(100) * (r + 1)
			assert posting.balance(db, "Race Sales") == D(100) * (r + 1)


def race_reverse_transaction(base, pool):
	with pool.connection() as db:
		open_accounts(db, ("Race Cash", "Asset"), ("Race Sales", "Income"))
		originals = [posting.post_journal(db, f"race-o{r}", posting.parse_legs([{"account": "Race Cash", "amount": "100.00"},
			{"account": "Race Sales", "amount": "-100.00"}])).name for r in range(ROUNDS)]
	for r, original in enumerate(originals):
		answers = one_round(base, "ledger.reverse_transaction", {"transaction": original, "idempotency_key": f"race-r{r}"})
		assert [a["duplicate"] for a in answers].count(False) == 1
		the_same(answers, "name")
		with pool.connection() as db:
			assert len(rows(db, "Ledger Transaction", "`reversal_of` = %(o)s", {"o": original})) == 1
			assert posting.balance(db, "Race Cash") == D(100) * (ROUNDS - r - 1)


def race_reconcile(base, pool):
	"""Sixteen fixes of one drifted cache: it is reset once, and the ledger is left alone."""
	with pool.connection() as db:
		open_accounts(db, ("Race Cash", "Asset"), ("Race Sales", "Income"))
		posting.post_journal(db, "race-drift", posting.parse_legs([{"account": "Race Cash", "amount": "100.00"},
			{"account": "Race Sales", "amount": "-100.00"}]))
	for _ in range(ROUNDS):
		with pool.connection() as db:
			db.run_in_transaction(lambda db: db.execute("UPDATE `tabLedger Account` SET `balance` = 7 WHERE `name` = 'Race Cash'"))
			transactions = count(db, "Ledger Transaction")
		answers = one_round(base, "ledger.reconcile", {"fix": True, "account": "Race Cash"})
		assert sum(a["fixed"] for a in answers) == 1, answers
		with pool.connection() as db:
			assert posting.balance(db, "Race Cash") == D(100)
			assert count(db, "Ledger Transaction") == transactions


def race_upsert_driver(base, pool):
	for r in range(ROUNDS):
		driver = f"RD{r}"
		answers = one_round(base, "drivers.upsert_driver", {"driver": driver, "driver_name": "Amina", "phone": "0712345678"})
		the_same(answers, "name", "driver_name", "phone")
		with pool.connection() as db:
			assert len(rows(db, "Fleet Driver", "`name` = %(n)s", {"n": driver})) == 1
			assert len(rows(db, "Ledger Account", "`party` = %(n)s", {"n": driver})) == 3
			assert drivers.driver_balances(db, driver) == {"target_outstanding": 0, "payable": 0, "deposit": 0}


def race_upsert_vehicle(base, pool):
	with pool.connection() as db:
		new_driver(db)
	for r in range(ROUNDS):
		answers = one_round(base, "drivers.upsert_vehicle", {"vehicle": f"RV{r}", "account_number": f"RACE{r}", "driver": "RD1"})
		the_same(answers, "name", "account_number", "driver")
		with pool.connection() as db:
			assert len(rows(db, "Fleet Vehicle", "`name` = %(n)s", {"n": f"RV{r}"})) == 1


def race_run_daily_targets(base, pool):
	with pool.connection() as db:
		for driver in ("RD1", "RD2"):
			drivers.upsert_driver(db, driver, "Amina", "0712345678", daily_target="300")
	for r, day in enumerate(("2026-03-01", "2026-03-02")):
		answers = one_round(base, "drivers.run_daily_targets", {"date": day})
		assert sum(a["charged"] for a in answers) == 2, answers
		with pool.connection() as db:
			for driver in ("RD1", "RD2"):
				assert drivers.driver_balances(db, driver)["target_outstanding"] == D(300) * (r + 1)


def race_assign_unmatched(base, pool):
	with pool.connection() as db:
		new_driver(db)
		payments = [unmatched_payment(db, f"QUA{r}") for r in range(ROUNDS)]
	for r, payment in enumerate(payments):
		answers = one_round(base, "drivers.assign_unmatched", {"unmatched_payment": payment, "driver": "RD1"})
		assert [a["duplicate"] for a in answers].count(False) == 1
		the_same(answers, "transaction")
		with pool.connection() as db:
			assert drivers.driver_balances(db, "RD1")["payable"] == D(40) * (r + 1)
			assert posting.balance(db, SUSPENSE) == D(40) * (ROUNDS - r - 1)


def race_request_unmatched_refund(base, pool):
	with pool.connection() as db:
		payments = [unmatched_payment(db, f"QUR{r}") for r in range(ROUNDS)]
	for payment in payments:
		answers = one_round(base, "drivers.request_unmatched_refund", {"unmatched_payment": payment})
		assert [a["duplicate"] for a in answers].count(False) == 1
		with pool.connection() as db:
			assert rows(db, "Unmatched Payment", "`name` = %(n)s", {"n": payment})[0]["status"] == "Refund Requested"


def race_record_missed_payment(base, pool):
	with pool.connection() as db:
		new_driver(db, account_number="RACEACC")
	for r in range(ROUNDS):
		answers = one_round(base, "drivers.record_missed_payment", {"trans_id": f"QMR{r}", "amount": "50.00",
			"bill_ref_number": "RACEACC", "trans_time": "20260301090000"})
		assert [a["duplicate"] for a in answers].count(False) == 1
		the_same(answers, "transaction")
		with pool.connection() as db:
			assert drivers.driver_balances(db, "RD1")["payable"] == D(50) * (r + 1)


def race_c2b_confirmation(base, pool):
	with pool.connection() as db:
		new_driver(db, account_number="RACEACC")
	for r in range(ROUNDS):
		answers = one_round(base, "mpesa.c2b_confirmation", c2b(f"QCR{r}", "30.00", "RACEACC"), headers=None,
			params={"token": CALLBACK_TOKEN})
		assert all(a == {"ResultCode": 0, "ResultDesc": "Success"} for a in answers), answers
		with pool.connection() as db:
			assert drivers.driver_balances(db, "RD1")["payable"] == D(30) * (r + 1)


def race_request_payout(base, pool):
	"""Issue 12: a repeated key answered 500 on MariaDB and PostgreSQL (the unique index's loser)."""
	with pool.connection() as db:
		funded_driver(db, amount="500.00")
	for r, amount in enumerate(("100", "100", None)):
		payload = {"party_type": "Fleet Driver", "party": "RD1", "idempotency_key": f"race-p{r}"}
		answers = one_round(base, "payouts.request_payout", {**payload, **({"amount": amount} if amount else {})})
		payout = the_same(answers, "name", "amount", "originator_conversation_id")
		assert [a["duplicate"] for a in answers].count(False) == 1
		with pool.connection() as db:
			assert len(rows(db, "Payout", "`idempotency_key` = %(k)s", {"k": f"race-p{r}"})) == 1
			assert payout["amount"] == ("100.00" if amount else "300.00")
			paid = D(100) * (r + 1) if amount else D(500)
			assert (drivers.driver_balances(db, "RD1")["payable"], posting.balance(db, PAYOUTS_IN_FLIGHT)) == (D(500) - paid, paid)


def race_retry_payout(base, pool):
	with pool.connection() as db:
		funded_driver(db, amount="500.00")
		failed = []
		for r in range(ROUNDS):
			payout = payouts.request_payout(db, "Fleet Driver", "RD1", f"race-f{r}", amount="100")
			payouts.record_result(db, payout["originator_conversation_id"], "2001", "wrong initiator")
			failed.append(payout["name"])
	for r, payout in enumerate(failed):
		answers = one_round(base, "payouts.retry_payout", {"payout": payout, "idempotency_key": f"race-retry{r}"})
		the_same(answers, "name", "retry_of")
		assert [a["duplicate"] for a in answers].count(False) == 1
		with pool.connection() as db:
			assert len(rows(db, "Payout", "`retry_of` = %(p)s", {"p": payout})) == 1
			assert drivers.driver_balances(db, "RD1")["payable"] == D(500) - D(100) * (r + 1)
			assert posting.balance(db, PAYOUTS_IN_FLIGHT) == D(100) * (r + 1)


def race_b2c_result(base, pool):
	with pool.connection() as db:
		funded_driver(db, amount="500.00")
		queued = [payouts.request_payout(db, "Fleet Driver", "RD1", f"race-b{r}", amount="100") for r in range(ROUNDS)]
	for r, payout in enumerate(queued):
		ocid = payout["originator_conversation_id"]
		body = {"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "ok", "OriginatorConversationID": ocid,
			"ConversationID": f"AG_{r}", "TransactionID": f"QBR{r}", "ResultParameters": {"ResultParameter": [
				{"Key": "TransactionAmount", "Value": 100}, {"Key": "TransactionReceipt", "Value": f"QBR{r}"}]}}}
		answers = one_round(base, "mpesa.b2c_result", body, headers=None, params={"token": CALLBACK_TOKEN})
		assert all(a == {"ResultCode": 0, "ResultDesc": "Accepted"} for a in answers), answers
		with pool.connection() as db:
			assert payouts.get_payout(db, payout["name"])["status"] == "Paid"
			assert posting.balance(db, PAYOUTS_IN_FLIGHT) == D(100) * (ROUNDS - r - 1)


def race_upsert_client(base, pool):
	for r in range(ROUNDS):
		answers = one_round(base, "clients.upsert_client", {"client": f"RC{r}", "client_name": "Wanjiku", "phone": "0722000001"})
		the_same(answers, "name", "client_name", "phone")
		with pool.connection() as db:
			assert len(rows(db, "Client", "`name` = %(n)s", {"n": f"RC{r}"})) == 1


def race_upsert_client_exchange(base, pool):
	with pool.connection() as db:
		clients.upsert_client(db, "RC1", "Wanjiku", "0722000001")
	for r in range(ROUNDS):
		ce = f"RC1-X{r}"
		answers = one_round(base, "clients.upsert_client_exchange", {"client_exchange": ce, "client": "RC1", "exchange": "Binance",
			"my_share_pct": "1", "company_share_pct": "9"})
		the_same(answers, "name", "capital")
		with pool.connection() as db:
			assert len(rows(db, "Client Exchange", "`name` = %(n)s", {"n": ce})) == 1
			assert len(rows(db, "Ledger Account", "`party` = %(n)s", {"n": ce})) == 2


def race_fund(base, pool):
	with pool.connection() as db:
		exchange(db, capital=None)
	for r in range(ROUNDS):
		answers = one_round(base, "clients.fund", {"client_exchange": "RC1-BIN", "amount": "250.00", "idempotency_key": f"race-f{r}"})
		assert [a["duplicate"] for a in answers].count(False) == 1
		the_same(answers, "transaction")
		with pool.connection() as db:
			assert clients.position(db, "RC1-BIN")["capital"] == D(250) * (r + 1)


def race_record_balance(base, pool):
	"""A profit, then a loss: each recorded once (one record, one withdrawal and payout, one snapshot)."""
	with pool.connection() as db:
		exchange(db)
	for r, (day, remaining) in enumerate((("2026-03-01", "1200.00"), ("2026-03-02", "900.00"))):
		answers = one_round(base, "clients.record_balance", {"client_exchange": "RC1-BIN", "date": day,
			"remaining_balance": remaining, "idempotency_key": f"race-b{r}"})
		the_same(answers, "name")
		with pool.connection() as db:
			assert len(rows(db, "Balance Record", "`client_exchange` = %(c)s", {"c": "RC1-BIN"})) == r + 1
			assert len(rows(db, "Payout", "`party` = %(c)s", {"c": "RC1-BIN"})) == 1
			assert len(rows(db, "Loss Snapshot", "`client_exchange` = %(c)s", {"c": "RC1-BIN"})) == r
	with pool.connection() as db:
		assert clients.position(db, "RC1-BIN")["active_loss"] == D(100)


def race_settle(base, pool):
	with pool.connection() as db:
		exchange(db)
		clients.record_balance(db, "RC1-BIN", "2026-03-01", "400.00", "race-loss")
	for r in range(ROUNDS):
		answers = one_round(base, "clients.settle", {"client_exchange": "RC1-BIN", "amount": "10.00", "idempotency_key": f"race-s{r}"})
		the_same(answers, "ledger_transaction", "capital_closed")
		with pool.connection() as db:
			assert clients.position(db, "RC1-BIN")["remaining_loss"] == D(600) - D(100) * (r + 1)
			assert len(rows(db, "Loss Settlement", "`idempotency_key` = %(k)s", {"k": f"race-s{r}"})) == 1


def race_update_settings(base, pool):
	for r in range(ROUNDS):
		answers = one_round(base, "settings.update_settings", {"global_daily_target": f"{900 + r}", "minimum_payout": "50"})
		assert all(a["global_daily_target"] == f"{900 + r}.00" for a in answers), answers
		with pool.connection() as db:
			stored = rows(db, "Singles", "`doctype` = %(d)s", {"d": ledger_settings.DOCTYPE})
			fields = [row["field"] for row in stored]
			assert len(fields) == len(set(fields)), sorted(fields)  # one row per field
			assert ledger_settings.get_settings(db)["global_daily_target"] == D(900 + r)


RACES = {name.removeprefix("race_"): function for name, function in sorted(globals().items()) if name.startswith("race_")}
# methods whose race above is under another name (the same function behind both callback paths)
ALIASES = {"daraja.c2b_confirmation": "c2b_confirmation", "daraja.b2c_result": "b2c_result"}
# writes not raced here, each with its reason
NOT_RACED = {
	"mpesa.c2b_validation": "writes only its own log row (test_c2b_http)",
	"daraja.c2b_validation": "writes only its own log row (test_c2b_http)",
	"mpesa.b2c_timeout": "settles nothing: marks the payout for a status query (test_payouts)",
	"daraja.b2c_timeout": "settles nothing: marks the payout for a status query (test_payouts)",
	"mpesa.transaction_status_result": "settles like b2c_result, through the same record_result",
	"daraja.transaction_status_result": "settles like b2c_result, through the same record_result",
	"mpesa.transaction_status_timeout": "settles nothing",
	"daraja.transaction_status_timeout": "settles nothing",
}


def test_every_write_method_is_raced():
	from tests.test_fuzz import METHODS

	writes = {path.removeprefix(f"{API}."): entry for path, entry in METHODS.items() if "GET" not in (entry.methods or ())}
	raced = {method for method in writes if method.split(".")[1] in RACES or method in ALIASES or method in NOT_RACED}
	assert sorted(set(writes) - raced) == []


@pytest.mark.parametrize("method", sorted(RACES))
def test_sixteen_identical_requests_answer_usably_and_act_once(served, host_kind, method):
	base, pool = served(callback_token=CALLBACK_TOKEN)
	RACES[method](base, pool)
	assert books_clean(pool)


def test_a_payout_key_repeated_for_another_party_or_amount_is_a_409(served):
	"""A repeated key answers its payout only when the repeat asks for the same payout (no amount: all
	that was payable, so any); asking for another amount, party or a retry under it is a 409 and moves
	nothing."""
	base, pool = served()
	with pool.connection() as db:
		funded_driver(db, "RD1")
		funded_driver(db, "RD2")
	request = {"party_type": "Fleet Driver", "party": "RD1", "idempotency_key": "race-k", "amount": "100"}
	first = call(base, f"{API}.payouts.request_payout", request)
	assert first.status_code == 200 and first.json()["message"]["duplicate"] is False, first.text
	for other in ({"amount": "200"}, {"party": "RD2"}):
		refused = call(base, f"{API}.payouts.request_payout", {**request, **other})
		assert refused.status_code == 409 and "race-k" in error_text(refused), refused.text
	again = call(base, f"{API}.payouts.request_payout", {key: value for key, value in request.items() if key != "amount"})
	assert again.status_code == 200, again.text
	assert (again.json()["message"]["name"], again.json()["message"]["duplicate"]) == (first.json()["message"]["name"], True)
	with pool.connection() as db:
		failed = payouts.request_payout(db, "Fleet Driver", "RD2", "race-fail", amount="50")
		payouts.record_result(db, failed["originator_conversation_id"], "2001", "wrong initiator")
	retried = call(base, f"{API}.payouts.retry_payout", {"payout": failed["name"], "idempotency_key": "race-k"})
	assert retried.status_code == 409 and "race-k" in error_text(retried), retried.text
	with pool.connection() as db:
		assert count(db, "Payout") == 2
		assert [drivers.driver_balances(db, d)["payable"] for d in ("RD1", "RD2")] == [D(400), D(500)]
		assert posting.balance(db, PAYOUTS_IN_FLIGHT) == D(100)
	assert books_clean(pool)
