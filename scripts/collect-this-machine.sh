#!/usr/bin/env bash
# Set up Chainproof and collect this machine (triage profile) into a new signed case.
#   scripts/collect-this-machine.sh [CASE_DIR]       (default: cases/<hostname>-<UTC time>)
# The examiner key is created on first use; its passphrase comes from $CHAINPROOF_PASSPHRASE
# or is asked for. Run as root to see every process and log.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
case_dir=${1:-cases/$(hostname)-$(date -u +%Y%m%dT%H%M%SZ)}
cp=.venv/bin/chainproof
if ! $cp keys show >/dev/null 2>&1; then
  if [[ -z "${CHAINPROOF_PASSPHRASE:-}" && ! -t 0 ]]; then
    echo "Set CHAINPROOF_PASSPHRASE (or run in a terminal) to create your examiner key" >&2; exit 2
  fi
  $cp keys init --name "${CHAINPROOF_NAME:-$(id -un)}" --org "${CHAINPROOF_ORG:-Unspecified}" \
    --email "${CHAINPROOF_EMAIL:-$(id -un)@$(hostname)}"
fi
$cp case new "$case_dir" --title "Triage of $(hostname)" --incident "${CHAINPROOF_INCIDENT:-unassigned}"
$cp collect "$case_dir" --profile triage
$cp case show "$case_dir"
$cp verify "$case_dir"
