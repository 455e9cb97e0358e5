#!/usr/bin/env bash
# Regenerates the bundled sample build captures/samples/2026.11.0-lab with the lab.
# Needs root (network namespaces, nftables, wireguard-go, tcpdump); takes ~40 s.
# Usage: captures/samples/regenerate.sh [--only SCENARIO ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 -m ksaudit.lab.samples -o captures/samples/2026.11.0-lab "$@"
