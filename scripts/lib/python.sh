# shellcheck shell=bash
# Which Python runs the tests; sourced by scripts/test. Sets and exports PYTHON.
#
# - PYTHON set by the caller: used as-is.
# - python3 inside a virtualenv, or one pip may install into (a python.org / pyenv / Docker
#   "python" image build): python3.
# - Debian's own /usr/bin/python3 refuses pip installs (PEP 668 "externally managed") and may lack
#   pip altogether: then a virtualenv in .venv/ (git-ignored) is created once and used, installing
#   python3-venv from Debian first when the venv module is missing.

python_log() { printf '[scripts/test] %s\n' "$*" >&2; }

# True when pip may install into this interpreter.
python_pip_usable() {
	"$1" - <<'EOF' >/dev/null 2>&1
import os, sys, sysconfig
in_venv = sys.prefix != sys.base_prefix
managed = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
import pip  # noqa: F401  (fails when pip is missing)
sys.exit(0 if in_venv or not managed else 1)
EOF
}

python_make_venv() {
	local venv="$1" base="$2"
	python_log "creating the virtualenv $venv (this python3 is managed by Debian or has no pip)"
	if "$base" -m venv "$venv" >/dev/null 2>&1; then
		return 0
	fi
	rm -rf "$venv"
	python_log "python3 -m venv failed; installing python3-venv from Debian (output only on failure)"
	local sudo=() log
	[ "$(id -u)" = 0 ] || sudo=(sudo -n)
	log="$(mktemp "${TMPDIR:-/tmp}/ledger-test-apt.XXXXXXXX")"
	# shellcheck disable=SC2034  # read by scripts/lib/backends.sh: no second apt-get update
	if "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1 && BACKENDS_APT_UPDATED=1 &&
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			python3-venv >>"$log" 2>&1 &&
		"$base" -m venv "$venv" >>"$log" 2>&1; then
		rm -f "$log"
		return 0
	fi
	tail -n 40 "$log" >&2
	rm -f "$log"
	return 1
}

python_select() {
	if [ -n "${PYTHON:-}" ]; then
		export PYTHON
		return 0
	fi
	local base venv=".venv"
	base="$(command -v python3)" || {
		python_log "python3 not found"
		return 1
	}
	if python_pip_usable "$base"; then
		PYTHON="$base"
	else
		if [ ! -e "$venv" ]; then
			python_make_venv "$venv" "$base" || {
				python_log "could not create $venv"
				return 1
			}
		elif ! python_pip_usable "$venv/bin/python"; then
			python_log "$venv exists but has no working python/pip; remove it or set PYTHON"
			return 1
		fi
		PYTHON="$PWD/$venv/bin/python"
		python_log "using $PYTHON"
	fi
	export PYTHON
}
