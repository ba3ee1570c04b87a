# Shared by scripts/run and scripts/test: create or reuse .venv and install fangpin into it,
# reinstalling only when pyproject.toml (or the requested extras) changed.
ensure_venv() {
  local extras="$1" python="" candidate
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python="$candidate"; break
    fi
  done
  if [ -z "$python" ]; then
    echo "fangpin needs Python 3.11 or newer; none was found on PATH" >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $($python --version)" >&2
    "$python" -m venv .venv
  fi
  local target=".${extras:+[$extras]}" log=".venv/pip-install.log"
  local stamp=".venv/.fangpin-installed" want
  want="$(sha256sum pyproject.toml | cut -c1-16) $target"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing fangpin${extras:+ with $extras extras} into .venv (first run takes a minute)" >&2
    if ! { .venv/bin/python -m pip install --upgrade pip &&
           .venv/bin/python -m pip install -e "$target"; } >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      echo "installing fangpin failed; the whole pip log is in $log" >&2
      exit 1
    fi
    echo "$want" > "$stamp"
  fi
  export PATH="$PWD/.venv/bin:$PATH"
}
