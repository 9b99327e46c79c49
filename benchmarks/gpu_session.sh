#!/usr/bin/env bash
# The name the device tooling runs; the checks themselves live in gpu_checks.sh.
exec bash "$(dirname "$0")/gpu_checks.sh" "$@"
