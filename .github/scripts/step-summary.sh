#!/usr/bin/env bash
# step-summary.sh REPORT [LINK]: appends the markdown file REPORT to
# $GITHUB_STEP_SUMMARY. GitHub refuses a step summary over 1 MiB (the whole
# summary of that step is then dropped), so a longer report is cut at a line
# boundary below the cap and ends with a note saying so and where the whole
# report is (LINK, e.g. the artifact's name).
# Runs anywhere: GITHUB_STEP_SUMMARY=/tmp/s .github/scripts/step-summary.sh r.md
# The backticks in the printf formats are markdown, not expansions:
# shellcheck disable=SC2016
set -euo pipefail

report=${1:?usage: step-summary.sh REPORT [LINK]}
link=${2:-the workflow run\'s artifacts}
out=${GITHUB_STEP_SUMMARY:?GITHUB_STEP_SUMMARY is not set (this runs inside a GitHub Actions step)}

# GitHub's cap on one step's summary.
cap=$((1024 * 1024))
# Room kept for the note and the closing of an open code block.
room=2048

if [ ! -s "$report" ]; then
	printf '## No report\n\n`%s` is missing or empty: the merge wrote no report (see the step above).\n' "$report" >>"$out"
	exit 0
fi

# What the summary already holds counts against the cap too.
have=0
[ -f "$out" ] && have=$(wc -c <"$out")
size=$(wc -c <"$report")
if [ $((have + size)) -le "$cap" ]; then
	cat "$report" >>"$out"
	exit 0
fi

keep=$((cap - have - room))
[ "$keep" -gt 0 ] || keep=0
# head -c may end inside a line (or a UTF-8 sequence): drop that partial line.
cut=$(head -c "$keep" "$report" | sed '$d')
{
	printf '%s\n' "$cut"
	# An odd number of fence lines means the cut fell inside a code block.
	if [ $(($(printf '%s\n' "$cut" | grep -c '^```' || true) % 2)) -eq 1 ]; then
		printf '```\n'
	fi
	printf '\n---\n\n> **Truncated:** `%s` is %s bytes and GitHub caps a step summary at 1 MiB, so only its first %s bytes are shown. The whole report is in %s.\n' \
		"$(basename "$report")" "$size" "$(printf '%s\n' "$cut" | wc -c)" "$link"
} >>"$out"
