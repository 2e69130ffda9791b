# Shell helpers shared by the tools' bash scripts (sourced, not run).

# run LOG CMD...: all the command prints goes to LOG; on failure the log's
# end is shown and the script exits.
run() {
  local log="$1"
  shift
  "$@" >> "$log" 2>&1 || { echo "failed; the end of $log:"; tail -n 20 "$log"; exit 1; }
}
