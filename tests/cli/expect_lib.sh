# Process-level checks shared by the CLI test scripts: `expect` runs a command
# and checks its exit code and output; pass/fail count. Needs $work (a temp dir).
failures=0
checks=0
pass() { checks=$((checks + 1)); echo "ok   $1"; }
fail() {
  checks=$((checks + 1)); failures=$((failures + 1))
  echo "FAIL $1"
  shift
  local line
  for line in "$@"; do echo "     $line"; done
}

# expect NAME RC STREAM REGEX... -- CMD...
# Runs CMD (stdin from $stdin_file when set); passes when the exit code is RC
# and STREAM (stdout|stderr) matches every extended REGEX (grep -E).
stdin_file=/dev/null
expect() {
  local name=$1 want_rc=$2 stream=$3
  shift 3
  local regexes=()
  while [[ $1 != -- ]]; do regexes+=("$1"); shift; done
  shift
  "$@" <"$stdin_file" >"$work/out" 2>"$work/err"
  local rc=$?
  local text
  if [[ $stream == stdout ]]; then text=$(cat "$work/out"); else text=$(cat "$work/err"); fi
  if [[ $rc != "$want_rc" ]]; then
    fail "$name" "exit code $rc, want $want_rc" "stderr: $(head -c 600 "$work/err")"
    return
  fi
  local re
  for re in "${regexes[@]}"; do
    if ! grep -Eq -- "$re" <<<"$text"; then
      fail "$name" "$stream does not match /$re/" "$stream: $(head -c 600 <<<"$text")"
      return
    fi
  done
  pass "$name"
}

