"""The test servers from ./scripts/test are up, and every test gets a fresh, empty database.

These talk to the drivers directly (sqlite3 / PyMySQL / psycopg), not through ledger_app, so a
failure here is about the test environment, not the application.
"""


def list_tables(backend: str, conn) -> list[str]:
	if backend == "sqlite":
		rows = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')").fetchall()
	elif backend == "mariadb":
		with conn.cursor() as cur:
			cur.execute("SHOW FULL TABLES")
			rows = cur.fetchall()
	else:
		rows = conn.execute(
			"SELECT table_name FROM information_schema.tables"
			" WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
		).fetchall()
	return sorted(row[0] for row in rows)


def scalar(backend: str, conn, sql: str):
	if backend == "mariadb":
		with conn.cursor() as cur:
			cur.execute(sql)
			return cur.fetchone()[0]
	return conn.execute(sql).fetchone()[0]


def mariadb_has_variable(conn, name: str) -> bool:
	with conn.cursor() as cur:
		cur.execute("SHOW VARIABLES LIKE %s", (name,))
		return cur.fetchone() is not None


def test_fresh_database_is_reachable_and_empty(backend, db_url, connect_db, tmp_path):
	assert db_url.startswith(
		{"sqlite": "sqlite:///", "mariadb": "mariadb://", "postgres": "postgresql://"}[backend]
	)
	conn = connect_db(db_url)
	assert scalar(backend, conn, "SELECT 1") == 1
	assert list_tables(backend, conn) == []
	if backend == "sqlite":
		assert db_url == f"sqlite:///{tmp_path}/ledger.db"
	else:
		assert db_url.rsplit("/", 1)[1].startswith("ledger_t_")
		current = "SELECT DATABASE()" if backend == "mariadb" else "SELECT current_database()"
		assert scalar(backend, conn, current) == db_url.rsplit("/", 1)[1]


def test_databases_are_separate(backend, db_url, make_db_url, connect_db):
	other_url = make_db_url()
	assert other_url != db_url
	first, second = connect_db(db_url), connect_db(other_url)
	if backend == "mariadb":
		with first.cursor() as cur:
			cur.execute("CREATE TABLE probe (id INT PRIMARY KEY)")
	else:
		first.execute("CREATE TABLE probe (id INT PRIMARY KEY)")
	assert list_tables(backend, first) == ["probe"]
	assert list_tables(backend, second) == []


def test_mariadb_runs_like_frappe_expects(make_db_url, connect_db):
	url = make_db_url("mariadb")
	conn = connect_db(url)
	# Frappe runs MariaDB at REPEATABLE READ; the ledger's locking must hold up under it.
	# transaction_isolation since MariaDB 11.1; tx_isolation before (Debian 12 ships 10.11).
	variable = (
		"transaction_isolation" if mariadb_has_variable(conn, "transaction_isolation") else "tx_isolation"
	)
	assert scalar("mariadb", conn, f"SELECT @@SESSION.{variable}") == "REPEATABLE-READ"
	assert scalar("mariadb", conn, f"SELECT @@GLOBAL.{variable}") == "REPEATABLE-READ"
	assert scalar("mariadb", conn, "SELECT @@character_set_server") == "utf8mb4"
	assert scalar("mariadb", conn, "SELECT @@collation_server") == "utf8mb4_unicode_ci"
	assert scalar("mariadb", conn, "SELECT @@character_set_connection") == "utf8mb4"
	assert scalar("mariadb", conn, "SELECT @@default_storage_engine") == "InnoDB"
	name = url.rsplit("/", 1)[1]
	with conn.cursor() as cur:
		cur.execute(
			"SELECT default_character_set_name, default_collation_name FROM information_schema.schemata"
			" WHERE schema_name = %s",
			(name,),
		)
		assert cur.fetchone() == ("utf8mb4", "utf8mb4_unicode_ci")
		# Four-byte characters survive a round trip.
		cur.execute("CREATE TABLE probe (note VARCHAR(20))")
		cur.execute("INSERT INTO probe VALUES (%s)", ("M-Pesa 💸",))
		cur.execute("SELECT note FROM probe")
		assert cur.fetchone()[0] == "M-Pesa 💸"
	assert scalar("mariadb", conn, "SELECT @@max_connections") >= 300


def test_postgres_runs_as_expected(make_db_url, connect_db):
	conn = connect_db(make_db_url("postgres"))
	assert scalar("postgres", conn, "SHOW server_encoding") == "UTF8"
	assert scalar("postgres", conn, "SHOW default_transaction_isolation") == "read committed"
	assert int(scalar("postgres", conn, "SHOW max_connections")) >= 300
