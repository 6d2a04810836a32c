"""Mutation testing of the engine's money modules: the scope, and the report of a run.

``benchmarks/mutation`` runs mutmut (configured in ``pyproject.toml``, ``[tool.mutmut]``) over the
mutants this module's ``SCOPE`` names, then calls ``python3 benchmarks/mutation_report.py`` to read
mutmut's results under ``mutants/`` and print the score per module and overall, and every mutant
not killed with its diff and reason (docs/mutation.md explains the categories).

	python3 benchmarks/mutation_report.py --globs          # the mutant-name globs of SCOPE, one a line
	python3 benchmarks/mutation_report.py --not-killed     # the mutants not killed (survived, no tests, not checked yet)
	python3 benchmarks/mutation_report.py [--out FILE.md] [--json FILE.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The money code, as mutmut's mutant names (``module.x_function__mutmut_N``; a method is
#: ``module.xǁClassǁmethod__mutmut_N``; a nested function is mutated with the function holding it).
#: Whole modules: money, posting, reconcile, txn_types.  In clients, drivers and payouts: the
#: functions that compute, post or settle an amount (splits, settlements, fares, repayments,
#: daily targets, payouts); their validation of staff input, reports and the gateway plumbing are
#: left out.
SCOPE = {
	"money": ["*"],
	"posting": ["*"],
	"reconcile": ["*"],
	"txn_types": ["*"],
	"clients": [
		"x_ensure_exchange_accounts", "x_validate_shares", "x__lock_exchange", "x_fund", "x_record_balance",
		"x__withdraw_profit", "x_payable_share", "x_settlement_split", "x_settle", "x__apply_settlement",
		"x__close_if_unpayable", "x__close_unpayable", "x_check_invariants", "x__capital",
		"x__active_snapshot", "x__settlement", "x_position",
	],
	"drivers": [
		"x_ensure_driver_accounts", "x__money_or_zero", "x_split_fare", "x_terms_for", "xǁ_FareSplitǁ*",
		"x_confirm_c2b", "x__confirm", "x__post_fare", "x__instant_payout", "x__post_repayment",
		"x__post_unmatched", "x__repeat", "x_record_missed_payment", "x_assign_unmatched",
		"x_request_unmatched_refund", "x_run_daily_targets", "x__charge_day", "x_driver_balances",
	],
	"payouts": [
		"x_payable_account", "x_whole_units", "x_queue_payout", "x_request_payout", "x_retry_payout",
		"x_record_submission", "x_record_result", "x__amount_mismatch", "x_mark_unknown",
		"x_record_not_found", "x__settle",
	],
}

#: Mutants not killed, reviewed by hand: a pattern of mutant names (``re.fullmatch`` on the name without
#: ``ledger_app.engine.``) -> the reason (docs/mutation.md).
REASONS: dict[str, str] = {
	r"posting\.x__read_last_postings__mutmut_\d+": "reached only on PostgreSQL, when a post waited for an"
		" account's lock (posting._check_joined_last_postings sends it there): no SQLite test can call it;"
		" tests/test_concurrency.py runs it on PostgreSQL",
	r"reconcile\.x__fix_cache__mutmut_41": "equivalent: side_sign() is +1 or -1, so dividing by it is multiplying",
	r"reconcile\.x__fix_cache__mutmut_19": "unreachable: the account was found by the same run and accounts are"
		" never deleted; the return value only counts fixes",
	r"reconcile\.x__fix_cache__mutmut_50": "counts as fixed an account whose cache another fix had already"
		" corrected (a race): the count of fixes, not an amount; no amount is written",
	r"drivers\.x__instant_payout__mutmut_17": "equivalent: \"Driver Share\" is queue_payout's default purpose",
	r"drivers\.x__charge_day__mutmut_23": "equivalent: the stored date's first 10 characters decide the comparison"
		" (an 11th character only makes an equal date compare greater, which `>=` already counts)",
	r"drivers\.x__charge_day__mutmut_35": "equivalent: a daily charge does not use the driver's fare percentage",
	r"drivers\.x__charge_day__mutmut_(68|79|87|88|89)": "the fingerprint of a day's charge is compared only when the"
		" same driver and day is posted again, which the day check under the Driver row lock prevents; not an amount",
	r"drivers\.x__charge_day__mutmut_(24|60|9[6-9]|10[0-6])": "the zero daily target and a day run again: expected to"
		" be killed by the daily-target boundary tests of issue 12 point 4 (branch `mutants`), not verified here",
	r"money\.x__from_text__mutmut_[3467]|money\.x_to_decimal__mutmut_19": "how a refused value is shown in its error"
		" message (repr, or cut at 40 characters): the same InvalidAmount, nothing accepted",
	r"money\.x__from_text__mutmut_19": "equivalent: text whose integer part is the single digit 0 and has at most 2"
		" decimals already matched the grammar, so only 2 or more digits reach this check",
	r"money\.x_to_decimal__mutmut_8": "equivalent: an int never equals MAX_AMOUNT (999999999999.99), so > and >="
		" refuse the same ints",
	r"clients\.x__apply_settlement__mutmut_(38|127|128)|drivers\.x_assign_unmatched__mutmut_129|"
	r"reconcile\.x__fix_cache__mutmut_51|drivers\.x__post_unmatched__mutmut_46": "only a timestamp (created, modified,"
		" settled or assigned at) is written as NULL: audit columns, no amount",
	r"drivers\.x__repeat__mutmut_5": "equivalent: every C2B transaction has a leg on the paybill account, so next()"
		" never runs out",
	r"drivers\.x__repeat__mutmut_2[123]": "equivalent: a transaction found under a TransID is always one of the three"
		" C2B types _KIND_OF_TYPE names, so the default is never used",
	r"drivers\.x_assign_unmatched__mutmut_(105|115)": "the assignment's fingerprint is compared only when its key"
		" (assign:<TransID>) is posted again, which the Assigned status under the row lock prevents (a leftover is the"
		" 'already posted' Conflict either way); not an amount",
	r"payouts\.x_(mark_unknown|record_not_found)__mutmut_\d+": "GAP (no test yet): a payout's status bookkeeping after"
		" a timeout or a 'not found' status result (Unknown or Queued again, the next query time, the error): no money"
		" moves here (it moves when queued and in _settle); a broken step makes the worker's call fail and a later"
		" status query settle the payout, so the tests' end states do not change",
	r"clients\.x__withdraw_profit__mutmut_(41|43|51|78)": "GAP (no test yet): the payout bookkeeping of a profit"
		" withdrawal (the phone, the key scope, the balance record's link to its payout); the amount posted and queued"
		" is unchanged",
	r"clients\.x__close_unpayable__mutmut_17": "the percentage written on the closing row of an unpayable loss"
		" (its payment is 0.00): no amount moves; not tested",
	r"drivers\.x__charge_day__mutmut_112": "when an outstanding target counts as a missed day (flagging, not an"
		" amount): the daily-target boundary tests of branch `mutants` are expected to kill it, not verified here",
	r"posting\.x__duplicate__mutmut_1": "equivalent for every caller: content_differs is read only by the C2B flows,"
		" whose identity keys always pass it (line 219); a staff journal's repeat is answered {name, duplicate}",
	r"posting\.x__duplicate__mutmut_(15|16)": "the key and time on the Posted returned for a repeat: no caller reads"
		" them (the answer is the transaction's name and duplicate); nothing posted changes",
	r"payouts\.x_retry_payout__mutmut_32": "a retried payout's purpose falls back to queue_payout's default, Driver"
		" Share (the original's in the test): a label, not an amount; a retry of another purpose would kill it",
	r"clients\.x__apply_settlement__mutmut_(73|74)": "the settlement row's position (idx) among its loss's settlements on"
		" the desk: not an amount",
	r"clients\.x__apply_settlement__mutmut_(99|101)": "the settlement row's own 'closed the loss' flag (shown on the"
		" desk); the loss snapshot's is_settled and remaining loss, which the tests check, come from split.closes",
	r"clients\.x__apply_settlement__mutmut_123": "equivalent: is_settled is read as true or false (the active loss is"
		" the one with is_settled = 0), so 2 means settled as 1 does",
	r"clients\.x_payable_share__mutmut_7": "equivalent: a loss of 0 gives round(0 * pct / 100) = 0.00, the ZERO it"
		" returns otherwise",
	r"clients\.x_settle__mutmut_(42|45|46)": "the loss row's lock: not visible on SQLite, whose BEGIN IMMEDIATE"
		" holds the whole database; concurrent settlements on MariaDB and PostgreSQL are issue 12 point 4's tests"
		" (branch `mutants`), expected to kill it there",
	r"clients\.x_settle__mutmut_(78|81)": "check_invariants without the settlement skips its settlement-specific"
		" checks; it checks, it computes nothing: no amount changes",
}

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 36: "timeout",
	-24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", None: "not checked"}
KILLED = ("killed", "timeout")


def globs() -> list[str]:
	out = []
	for module, functions in SCOPE.items():
		for function in functions:
			suffix = "*" if function == "*" else f"{function}__mutmut_*"
			out.append(f"ledger_app.engine.{module}.{suffix}")
	return out


def in_scope(module: str, name: str) -> bool:
	from fnmatch import fnmatchcase

	short = name.rpartition(".")[2]
	return any(f == "*" or fnmatchcase(short, f"{f}__mutmut_*") for f in SCOPE.get(module, ()))


def changed_lines(diff: str) -> tuple[list[str], list[str]]:
	minus = [line[1:].strip() for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
	plus = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
	return minus, plus


_STRING = re.compile(r"""(f?"(?:[^"\\]|\\.)*"|f?'(?:[^'\\]|\\.)*')""")
_SQL = re.compile(r"\b(SELECT|UPDATE|INSERT|DELETE|FROM|WHERE|ORDER BY|FOR UPDATE)\b|table\(|\binsert(_many)?\(db|_set\(db")
_ERROR = re.compile(r"\braise\b|(Failed|Conflict|NotFound|Error|Rejected|Violation|Unavailable)\(")
_AUDIT = re.compile(r"\b(user|remarks|modified|modified_by|owner|now|fixed_by|fixed_at|standard_columns)\b")
_ANSWER = re.compile(r"^return (\{|Confirmation\(|dataclasses\.replace\(|Posted\(|\w+\(\*\*)")
#: checks whose string argument is the field name their error message shows
_FIELD_CHECK = re.compile(r"\b(parse_amount|to_decimal|validate_key|validate_name|_identifier|_name|_percent|_money_or_zero|"
	r"_choice|_date|text\.check)\(")
#: words of the lines that compute, compare or move an amount
_AMOUNT = re.compile(r"amount|balance|share|payment|capital|total|loss|profit|target|outstanding|contribution|"
	r"minimum|units|payable|deposit|ZERO|CENT|round|quantize|Decimal|sum\(|min\(|max\(|pct|leg|delta|after|before"
	r"|[-+*/<>]=?|==|!=")

CATEGORIES = {
	"reviewed": "reviewed one by one (the reason is given)",
	"sql-case": "only the case of a string changed: SQL text or a table/column name (SQLite, where these tests run,"
		" and MariaDB ignore it; PostgreSQL's quoted names do not, and the HTTP suite runs every flow there), or a"
		" message or label; no amount",
	"message": "only an error message changed (its text, or None): the same error type and HTTP status, nothing moves",
	"text": "only a string literal changed (\"XX\" around it): a message, remark, label, answer key or a field name"
		" shown in errors (a changed column name would fail the insert and be killed); no amount depends on it",
	"audit": "only who/when/remarks of a row changed (user, timestamps, remarks): audit columns, no amount",
	"party": "only the party a transaction is tagged with (party_type/party) changed or was dropped: amounts and"
		" accounts are unchanged (a party's balances are its accounts'); tested for C2B payments and reversals",
	"answer": "only the service's answer to its caller changed, not what it posted (the HTTP tests check answers)",
	"review-amount": "NOT REVIEWED: touches an amount, a balance or a comparison; needs a test or a reason",
	"review": "NOT REVIEWED: needs a test or a reason",
}


def category(name: str, diff: str) -> tuple[str, str]:
	"""(category, reason) of a mutant that was not killed, from its diff; REASONS wins."""
	short = name.removeprefix("ledger_app.engine.")
	for pattern, reason in REASONS.items():
		if re.fullmatch(pattern, short):
			return "reviewed", reason
	minus, plus = changed_lines(diff)
	old, new = " ".join(minus), " ".join(plus)
	same_code = _STRING.sub("S", old) == _STRING.sub("S", new)
	if same_code and old.lower() == new.lower():
		return "sql-case", CATEGORIES["sql-case"]
	if _FIELD_CHECK.search(old) and _only_a_string_argument_changed(old, new):
		return "message", CATEGORIES["message"]
	if _ERROR.search(old) and (same_code or "None" in new or len(new) < len(old)):
		return "message", CATEGORIES["message"]
	if old.startswith("def ") and same_code and re.search(r"\buser: str = ", old):
		return "audit", CATEGORIES["audit"]  # the default of ``user``, who a row is recorded as made by
	removed = _words(old) - _words(new)
	if removed and all(_AUDIT.fullmatch(w) for w in removed) or (_AUDIT.search(old) and _only_args_changed(old, new)):
		return "audit", CATEGORIES["audit"]
	if _PARTY.search(old) and _only_party_changed(old, new):
		return "party", CATEGORIES["party"]
	if all(_ANSWER.search(line) for line in minus):
		return "answer", CATEGORIES["answer"]
	if same_code:
		return "text", CATEGORIES["text"]
	if _AMOUNT.search(old):
		return "review-amount", CATEGORIES["review-amount"]
	return "review", CATEGORIES["review"]


def _only_a_string_argument_changed(old: str, new: str) -> bool:
	"""``f(x, "field")`` -> ``f(x, None)``, ``f(x, )`` or ``f(x, "XXfieldXX")``: the field name shown in errors."""
	blank = _STRING.sub("S", old)
	return any(_STRING.sub("S", candidate) == blank or candidate == new for candidate in (
		_STRING.sub("None", old), re.sub(_STRING.pattern + r",?\s*", "", old))) and (
		_STRING.sub("S", new) in (blank, _STRING.sub("S", _STRING.sub("None", old)).replace("S", "None"))
		or re.sub(_STRING.pattern + r",?\s*", "", old).replace(" ", "") == new.replace(" ", "")
		or _STRING.sub("S", new).replace("None", "S") == blank)


_PARTY = re.compile(r"\bparty(_type)?\s*=")


def _only_party_changed(old: str, new: str) -> bool:
	strip = re.compile(r"\bparty(_type)?\s*=\s*[^,)]*,?\s*")
	return strip.sub("", old).replace(" ", "") == strip.sub("", new).replace(" ", "")


def _words(text: str) -> set[str]:
	return set(re.findall(r"[A-Za-z_]\w*", _STRING.sub("S", text)))


def _only_args_changed(old: str, new: str) -> bool:
	"""The change replaces or drops an audit argument (``user=user`` -> ``user=None`` or gone)."""
	strip = re.compile(r"\b(user|now|fixed_at)\s*=\s*[^,)]*,?\s*|standard_columns\([^)]*\)|"
		r"\bremarks\s*=\s*(f?\"[^\"]*\"|None|\w+),?\s*")
	return strip.sub("", old).replace(" ", "") == strip.sub("", new).replace(" ", "")


def load(diffs: bool = True) -> list[dict]:
	from mutmut.mutation.diff_apply import get_diff_for_mutant

	rows = []
	for meta in sorted((ROOT / "mutants" / "ledger_app" / "engine").glob("*.py.meta")):
		module = meta.name.removesuffix(".py.meta")
		data = json.loads(meta.read_text())
		source = Path("ledger_app/engine") / f"{module}.py"
		for name, code in sorted(data.get("exit_code_by_key", {}).items(), key=_natural):
			if not in_scope(module, name):
				continue
			status = STATUS.get(code, "suspicious")
			row = {"module": module, "name": name, "status": status}
			if diffs and status not in KILLED and status != "not checked":
				diff = get_diff_for_mutant(name, path=source)
				row["diff"] = diff
				row["category"], row["reason"] = category(name, diff)
			rows.append(row)
	return rows


def _natural(item) -> tuple:
	name = item[0]
	base, _, number = name.rpartition("__mutmut_")
	return (base, int(number) if number.isdigit() else 0)


def score(rows: list[dict]) -> tuple[int, int, float]:
	tested = [r for r in rows if r["status"] not in ("skipped", "not checked")]
	killed = sum(r["status"] in KILLED for r in tested)
	return killed, len(tested), (100.0 * killed / len(tested)) if tested else 0.0


def markdown(rows: list[dict]) -> str:
	out = ["| module | mutants | killed | not killed | score |", "|---|---:|---:|---:|---:|"]
	for module in SCOPE:
		mine = [r for r in rows if r["module"] == module]
		k, n, s = score(mine)
		out.append(f"| {module}.py | {n} | {k} | {n - k} | {s:.1f} % |")
	k, n, s = score(rows)
	out.append(f"| **all** | **{n}** | **{k}** | **{n - k}** | **{s:.1f} %** |")
	unchecked = Counter(r["name"].removeprefix("ledger_app.engine.").rpartition("__mutmut_")[0]
		for r in rows if r["status"] == "not checked")
	if unchecked:
		out += ["", f"Not checked in this run: {sum(unchecked.values())} mutants, by function: " + ", ".join(
			f"`{name}` {n}" for name, n in sorted(unchecked.items()))]
	left = [r for r in rows if r["status"] not in KILLED and "diff" in r]
	counts = Counter(r["category"] for r in left)
	out += ["", "Not killed, by category: " + (", ".join(f"{c} {n}" for c, n in sorted(counts.items())) or "none"), ""]
	for r in left:
		minus, plus = changed_lines(r["diff"])
		out.append(f"- `{r['name'].removeprefix('ledger_app.engine.')}` ({r['status']}, {r['category']}): {r['reason']}")
		for line in minus:
			out.append(f"  - `- {line}`")
		for line in plus:
			out.append(f"  - `+ {line}`")
	return "\n".join(out) + "\n"


def main() -> int:
	parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
	parser.add_argument("--globs", action="store_true", help="print the mutant-name globs of SCOPE and exit")
	parser.add_argument("--not-killed", action="store_true", help="print the names of the mutants not killed (or not checked yet) and exit")
	parser.add_argument("--out", help="also write the markdown report to this file")
	parser.add_argument("--json", help="write every in-scope mutant's status (and diff when not killed) here")
	args = parser.parse_args()
	if args.globs:
		print("\n".join(globs()))
		return 0
	rows = load(diffs=not args.not_killed)
	if args.not_killed:
		print("\n".join(r["name"] for r in rows if r["status"] not in KILLED))
		return 0
	text = markdown(rows)
	sys.stdout.write(text)
	if args.out:
		Path(args.out).write_text(text)
	if args.json:
		Path(args.json).write_text(json.dumps(rows, indent=1))
	return 0


if __name__ == "__main__":
	sys.exit(main())
