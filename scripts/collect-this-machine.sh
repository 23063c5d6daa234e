#!/usr/bin/env bash
# Set up Chainproof and collect this machine (triage profile) into a new signed case.
#   scripts/collect-this-machine.sh [CASE_DIR]
# A relative CASE_DIR is taken from the directory you run this in; without one the case goes
# to cases/<hostname>-<UTC time> in this checkout. Chainproof never collects itself (this
# checkout, its .venv), the case it writes, other cases or your identity: the ledger
# records each exclusion.
# Your examiner identity is created on first use by 'chainproof keys init': it takes your name,
# organisation and e-mail from CHAINPROOF_NAME, CHAINPROOF_ORG and CHAINPROOF_EMAIL, or asks
# for them in a terminal; without a terminal a missing one stops the script before anything is
# collected. Nothing is made up. An existing identity is kept and used as it is. The key's
# passphrase comes from $CHAINPROOF_PASSPHRASE or is asked for; a wrong one stops the script
# with "wrong passphrase" and changes nothing. Run as root to see every process and log.
set -euo pipefail
if [[ -n "${1:-}" ]]; then
  case_dir=$1
  [[ $case_dir == /* ]] || case_dir=$PWD/$case_dir  # from where it is run, before the cd
fi
cd "$(dirname "$0")/.."
scripts/setup.sh
case_dir=${case_dir:-$PWD/cases/$(hostname)-$(date -u +%Y%m%dT%H%M%SZ)}
cp=(.venv/bin/python -m app)  # not .venv/bin/chainproof: a moved venv breaks its #! line
# Creates the identity only when its file does not exist; never replaces one.
"${cp[@]}" keys init --if-missing
"${cp[@]}" case new "$case_dir" --title "Triage of $(hostname)" --incident "${CHAINPROOF_INCIDENT:-unassigned}"
"${cp[@]}" collect "$case_dir" --profile triage
"${cp[@]}" case show "$case_dir"
"${cp[@]}" verify "$case_dir"
