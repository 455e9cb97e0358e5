#!/usr/bin/env bash
# Regenerates the bundled sample builds with the lab: captures/samples/2026.11.0-lab
# (the lab's own harness) and captures/samples/2026.12.0-rig-b (the same lab, evidence
# written by another rig: `ksaudit lab run --rig foreign`, docs/lab.md "Another rig").
# Needs root (network namespaces, nftables, wireguard-go, wg-quick, openvpn, tcpdump); takes ~70 s.
# Usage: captures/samples/regenerate.sh [--only SCENARIO ...]   (--only: the lab build only)
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m ksaudit.lab.samples -o captures/samples/2026.11.0-lab "$@"
if [ $# -eq 0 ]; then
  python3 -m ksaudit.lab.samples --rig foreign -o captures/samples/2026.12.0-rig-b
fi
