"""The one place that declares the constraints a doctype JSON cannot express.

A doctype JSON gives single-column ``unique`` and ``search_index``.  Everything else the ledger
relies on is declared here, once, and applied by both hosts:

- inside a bench by the patch ``ledger_app.patches.v0_1.apply_constraints`` (and by
  ``after_install``, because ``install-app`` marks every patch as already run);
- standalone by ``ledger_app.db.schema.ensure_schema``.

Four kinds:

``Index``
	a multi-column index, optionally unique.
``PartialUnique``
	unique over ``columns`` only for rows where ``where`` holds.  PostgreSQL and SQLite have
	partial indexes.  MariaDB has none, so there each key column gets a PERSISTENT generated column
	that holds the value when the condition holds and NULL otherwise, and the unique key is built over
	those generated columns (a unique key ignores NULLs, so rows outside the condition never clash).
``Check``
	a CHECK constraint with an expression per dialect.  SQLite cannot add a CHECK to an existing
	table, so ``schema.create_table_sql`` writes a table's checks inline when it creates the table
	(``checks_for_table``) and ``apply_all`` leaves SQLite checks alone.
``Exact``
	text columns compared byte for byte.  SQLite (``BINARY``) and PostgreSQL (a deterministic
	collation) already compare every text exactly.  MariaDB compares by the column's collation, and
	Frappe creates every table with ``utf8mb4_unicode_ci``, which ignores case, accents and
	zero-width characters: ``INV-A1`` and ``inv-a1`` would be one idempotency key.  There each
	column is modified to ``utf8mb4_bin``, keeping the rest of its definition as the catalog shows
	it (also the generated columns of a ``PartialUnique`` over an exact column).

Every function takes ``db`` with ``sql(query, params) -> list[dict]`` and ``dialect.name``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ledger_app.db import catalog

log = logging.getLogger(__name__)

DIALECTS = ("mariadb", "postgres", "sqlite")
_MAX_IDENTIFIER = 63  # PostgreSQL's limit; MariaDB allows 64


def _pick(per_dialect: str | Mapping[str, str], dialect_name: str) -> str:
	"""An expression for ``dialect_name``: a plain string serves every dialect; a mapping may give
	one per dialect with ``"default"`` for the rest."""
	if isinstance(per_dialect, str):
		return per_dialect
	if dialect_name in per_dialect:
		return per_dialect[dialect_name]
	return per_dialect["default"]


def _check_identifier(name: str) -> None:
	if not name or len(name) > _MAX_IDENTIFIER or not name.replace("_", "").isalnum():
		raise ValueError(f"constraint name {name!r} must be 1-{_MAX_IDENTIFIER} letters, digits, underscores")


@dataclass(frozen=True)
class Index:
	"""A multi-column index.  A single-column one belongs in the doctype JSON (``unique`` or
	``search_index``): on MariaDB, Frappe's migrate drops a single-column index that the JSON does
	not ask for (``DBTable.alter`` via ``get_column_index``), but leaves composite ones alone."""

	name: str
	table: str
	columns: tuple[str, ...]
	unique: bool = False

	def __post_init__(self):
		_check_identifier(self.name)
		if len(self.columns) < 2:
			raise ValueError(f"index {self.name}: declare a single-column index in the doctype JSON")


@dataclass(frozen=True)
class PartialUnique:
	name: str
	table: str
	columns: tuple[str, ...]
	#: SQL condition over the table's columns (a string, or one per dialect with a "default")
	where: str | Mapping[str, str]
	#: MariaDB only: the type of each generated column, the key columns' own (a Link is varchar(140))
	generated_type: str = "varchar(140)"

	def __post_init__(self):
		_check_identifier(self.name)
		for column in self.columns:
			_check_identifier(self.generated_column(column))

	def generated_column(self, column: str) -> str:
		"""MariaDB only: the generated column standing in for ``column``."""
		return f"_{self.name}_{column}" if len(self.columns) > 1 else f"_{self.name}"


@dataclass(frozen=True)
class Check:
	name: str
	table: str
	#: the CHECK expression (a string, or one per dialect with a "default")
	expression: str | Mapping[str, str]

	def __post_init__(self):
		_check_identifier(self.name)


@dataclass(frozen=True)
class Exact:
	name: str
	table: str
	columns: tuple[str, ...]

	def __post_init__(self):
		_check_identifier(self.name)


#: MariaDB's byte-for-byte collation for the utf8mb4 columns of ``Exact``
EXACT_COLLATION = "utf8mb4_bin"

Constraint = Index | PartialUnique | Check | Exact


CONSTRAINTS: list[Constraint] = [
	# an idempotency key is unique within its key scope (engine/txn_types.py), not across the ledger:
	# a staff journal's key can never take a TransID, and a TransID counts once among C2B receipts
	Index("transaction_scope_key", "tabLedger Transaction", ("key_scope", "idempotency_key"), unique=True),
	# the same for payouts (engine/payouts.py): a staff request's key never takes an instant payout's
	Index("payout_scope_key", "tabPayout", ("key_scope", "idempotency_key"), unique=True),
	# an account's postings in insertion order (the engine reads the last one by account_seq below)
	Index("posting_account_name", "tabLedger Posting", ("account", "name")),
	# one posting per position in an account's history: two writers that both read the same
	# posting_count cannot both insert, so a skipped lock still cannot lose an update
	Index("posting_account_seq", "tabLedger Posting", ("account", "account_seq"), unique=True),
	# statements and balance-as-of reads: one account's postings in time order
	Index("posting_account_datetime", "tabLedger Posting", ("account", "posting_datetime")),
	Check("ledger_account_normal_side", "tabLedger Account", "normal_side IN ('Debit', 'Credit')"),
	Check(
		"ledger_posting_amount_nonzero",
		"tabLedger Posting",
		# money is TEXT on SQLite (exact); compare it as a number there
		{"sqlite": "CAST(amount AS REAL) <> 0", "default": "amount <> 0"},
	),
	# at most one active (unsettled) loss snapshot per client exchange
	PartialUnique("one_active_loss", "tabLoss Snapshot", ("client_exchange",), where="is_settled = 0"),
	# one balance record per client exchange per day
	Index("balance_record_exchange_date", "tabBalance Record", ("client_exchange", "date"), unique=True),
	# ids, names, links, keys, TransIDs and references: compared byte for byte on every database
	# (declared last: a PartialUnique above creates the generated columns these make exact too)
	# (README "Keys and names are exact").  People's names and remarks keep the table's collation,
	# so a desk search for them ignores case on MariaDB.
	Exact("ledger_account_exact", "tabLedger Account", ("name", "account_name", "party_type", "party")),
	Exact(
		"ledger_transaction_exact",
		"tabLedger Transaction",
		("name", "transaction_type", "idempotency_key", "key_scope", "party_type", "party", "reversal_of",
			"amended_from"),
	),
	Exact("ledger_posting_exact", "tabLedger Posting", ("parent", "account")),
	Exact(
		"payout_exact",
		"tabPayout",
		("name", "party_type", "party", "idempotency_key", "key_scope", "retry_of", "originator_conversation_id",
			"conversation_id", "gateway_receipt", "status_query_id", "queue_transaction", "settle_transaction"),
	),
	Exact(
		"fleet_driver_exact",
		"tabFleet Driver",
		("name", "driver_id", "target_account", "payable_account", "deposit_account"),
	),
	Exact("fleet_vehicle_exact", "tabFleet Vehicle", ("name", "vehicle_id", "account_number", "driver", "substitute_driver")),
	Exact("client_exact", "tabClient", ("name", "client_id")),
	Exact(
		"client_exchange_exact",
		"tabClient Exchange",
		("name", "client_exchange_id", "client", "capital_account", "payable_account"),
	),
	Exact(
		"balance_record_exact",
		"tabBalance Record",
		("name", "client_exchange", "profit_withdrawal_id", "idempotency_key", "loss_snapshot",
			"withdrawal_transaction", "payout"),
	),
	Exact("loss_snapshot_exact", "tabLoss Snapshot", ("name", "client_exchange", "balance_record")),
	Exact("loss_settlement_exact", "tabLoss Settlement", ("name", "parent", "idempotency_key", "ledger_transaction")),
	Exact(
		"unmatched_payment_exact",
		"tabUnmatched Payment",
		("name", "trans_id", "bill_ref_number", "msisdn", "ledger_transaction", "assigned_driver",
			"assignment_transaction"),
	),
	Exact("callback_log_exact", "tabCallback Log", ("name", "reference")),
]


def _cols(columns) -> str:
	return ", ".join(f"`{column}`" for column in columns)


def statements(constraint: Constraint, dialect_name: str) -> list[str]:
	"""The DDL that creates ``constraint`` on ``dialect_name``; every statement is safe to repeat
	except a MariaDB/PostgreSQL CHECK, which ``apply_all`` runs only when it is missing."""
	if dialect_name not in DIALECTS:
		raise ValueError(f"unknown dialect {dialect_name!r}")
	table = constraint.table
	if isinstance(constraint, Index):
		unique = "UNIQUE " if constraint.unique else ""
		if dialect_name == "mariadb":
			return [
				(
					f"ALTER TABLE `{table}` ADD {unique}INDEX IF NOT EXISTS `{constraint.name}`"
					f" ({_cols(constraint.columns)})"
				)
			]
		return [
			f"CREATE {unique}INDEX IF NOT EXISTS `{constraint.name}` ON `{table}` ({_cols(constraint.columns)})"
		]

	if isinstance(constraint, PartialUnique):
		condition = _pick(constraint.where, dialect_name)
		if dialect_name != "mariadb":
			return [
				(
					f"CREATE UNIQUE INDEX IF NOT EXISTS `{constraint.name}` ON `{table}`"
					f" ({_cols(constraint.columns)}) WHERE {condition}"
				)
			]
		result = []
		for column in constraint.columns:
			result.append(
				f"ALTER TABLE `{table}` ADD COLUMN IF NOT EXISTS `{constraint.generated_column(column)}`"
				f" {constraint.generated_type} AS (IF({condition}, `{column}`, NULL)) PERSISTENT"
			)
		generated = [constraint.generated_column(column) for column in constraint.columns]
		result.append(
			f"ALTER TABLE `{table}` ADD UNIQUE INDEX IF NOT EXISTS `{constraint.name}` ({_cols(generated)})"
		)
		return result

	if isinstance(constraint, Exact):
		return []  # built from the catalog by exact_statements (MariaDB only)

	if isinstance(constraint, Check):
		if dialect_name == "sqlite":
			return []  # written inline by schema.create_table_sql (checks_for_table)
		expression = _pick(constraint.expression, dialect_name)
		return [f"ALTER TABLE `{table}` ADD CONSTRAINT `{constraint.name}` CHECK ({expression})"]

	raise TypeError(f"not a constraint: {constraint!r}")


def checks_for_table(table: str, dialect_name: str) -> list[str]:
	"""Inline ``CONSTRAINT name CHECK (...)`` clauses for a CREATE TABLE of ``table``."""
	return [
		f"CONSTRAINT `{c.name}` CHECK ({_pick(c.expression, dialect_name)})"
		for c in CONSTRAINTS
		if isinstance(c, Check) and c.table == table
	]


def exact_columns(constraint: Exact) -> tuple[str, ...]:
	"""The columns ``constraint`` makes exact on MariaDB: its own, and the generated column of each
	``PartialUnique`` of its table over one of them (a unique key compares by that column's collation)."""
	generated = tuple(
		partial.generated_column(column)
		for partial in CONSTRAINTS
		if isinstance(partial, PartialUnique) and partial.table == constraint.table
		for column in partial.columns
		if column in constraint.columns
	)
	return constraint.columns + generated


def exact_statements(db, constraint: Exact) -> list[str]:
	"""MariaDB: one ALTER TABLE that gives each column of ``constraint`` not yet exact the
	``utf8mb4_bin`` collation, its type, nullability, default or generation kept as the catalog
	shows them.  Other databases: none."""
	if catalog.dialect_name(db) != "mariadb":
		return []
	current = catalog.text_columns(db, constraint.table)
	changes = []
	for column in exact_columns(constraint):
		info = current.get(column.lower())
		if info is None:
			raise LookupError(f"constraint {constraint.name}: {constraint.table} has no text column {column}")
		if info.collation == EXACT_COLLATION:
			continue
		definition = f"{info.column_type} CHARACTER SET utf8mb4 COLLATE {EXACT_COLLATION}"
		if info.generation is not None:
			definition += f" AS ({info.generation}) PERSISTENT"
		else:
			definition += " NULL" if info.nullable else " NOT NULL"
			if info.default is not None:
				definition += f" DEFAULT {info.default}"
		changes.append(f"MODIFY `{column}` {definition}")
	return [f"ALTER TABLE `{constraint.table}` " + ", ".join(changes)] if changes else []


def exists(db, constraint: Constraint) -> bool:
	"""Whether the database already has ``constraint`` (looked up by name in its catalog)."""
	if isinstance(constraint, Exact):
		return not exact_statements(db, constraint)
	if isinstance(constraint, Check):
		return catalog.check_exists(db, constraint.table, constraint.name)
	return catalog.index_exists(db, constraint.table, constraint.name)


def apply_all(
	db,
	constraints: list[Constraint] | None = None,
	run_ddl: Callable[[str], object] | None = None,
) -> list[str]:
	"""Create every missing constraint; returns the names it created.  Idempotent, and safe when
	several processes race it: a statement that fails because another process created the same
	constraint first is ignored.

	``run_ddl`` runs one DDL statement (default ``db.sql``); the Frappe patch passes one that
	commits first, as ``frappe.db.add_index`` does, because MariaDB commits implicitly on DDL.
	"""
	run = run_ddl or (lambda statement: db.sql(statement))
	dialect = catalog.dialect_name(db)
	created = []
	for constraint in CONSTRAINTS if constraints is None else constraints:
		if not catalog.table_exists(db, constraint.table):
			raise LookupError(
				f"constraint {constraint.name} is declared on {constraint.table}, which does not exist"
			)
		if exists(db, constraint):
			continue
		ddl = exact_statements(db, constraint) if isinstance(constraint, Exact) else statements(constraint, dialect)
		if not ddl:  # a SQLite CHECK on a table created before the CHECK was declared
			log.warning(
				"SQLite cannot add CHECK %s to the existing table %s; recreate the table to get it",
				constraint.name,
				constraint.table,
			)
			continue
		try:
			for statement in ddl:
				run(statement)
		except Exception:
			if exists(db, constraint):  # another process created it meanwhile
				continue
			raise
		created.append(constraint.name)
	return created
