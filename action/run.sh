#!/usr/bin/env bash
# Runs one shipgate subcommand for the composite action (action.yml).
#
# Inputs arrive only through env (never interpolated into this script):
#   SHIPGATE_BIN      the binary install.sh put in the tool cache
#   SHIPGATE_COMMAND  gate | migrate | smoke | watch | rollback | deploy | run | check
#   SHIPGATE_ARGS     more arguments: split on whitespace, or one per line when
#                     the value has several lines (for an argument with spaces)
#   SHIPGATE_CONFIG, SHIPGATE_ENV   read by shipgate itself
# shipgate writes `exit-code`, `outcome` and its own outputs (`release`,
# `backup`, …) to $GITHUB_OUTPUT; this adds `report` and `rolled-back`, and
# exits with shipgate's code so the step fails when shipgate does.
set -uo pipefail

fail() { echo "::error title=shipgate::$*" >&2; exit 2; }

binary="${SHIPGATE_BIN:-}"
[ -x "$binary" ] || fail "the shipgate binary \`$binary\` is missing; the install step must run first"
command="${SHIPGATE_COMMAND:-}"
case "$command" in
    gate | migrate | smoke | watch | rollback | deploy | run | check) ;;
    *) fail "input \`command\` must be one of gate, migrate, smoke, watch, rollback, deploy, run, check (got \`$command\`)" ;;
esac

# An input left empty means "not set", not "the environment named ``".
[ -n "${SHIPGATE_ENV:-}" ] || unset SHIPGATE_ENV
[ -n "${SHIPGATE_CONFIG:-}" ] || unset SHIPGATE_CONFIG

arguments=()
if [[ "${SHIPGATE_ARGS:-}" == *$'\n'* ]]; then
    while IFS= read -r line; do
        [ -z "$line" ] || arguments+=("$line")
    done <<<"$SHIPGATE_ARGS"
else
    read -r -a arguments <<<"${SHIPGATE_ARGS:-}"
fi

# The JSON report goes beside the run state, one file per step.
directory="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/shipgate"
mkdir -p "$directory"
report="$directory/report-${GITHUB_ACTION:-step}-$command.json"
export SHIPGATE_REPORT="$report"

"$binary" "$command" "${arguments[@]}"
code=$?

output="${GITHUB_OUTPUT:-/dev/null}"
echo "report=$report" >>"$output"
if [ "$code" -eq 4 ]; then
    echo "rolled-back=true" >>"$output"
else
    echo "rolled-back=false" >>"$output"
fi
exit "$code"
