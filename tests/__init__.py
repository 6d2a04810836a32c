# Makes tests/ a package: pytest then puts the repository root on sys.path, so `from tests.support import ...`
# works under both `pytest` and `python -m pytest`.
