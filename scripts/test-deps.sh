#!/usr/bin/env bash
# System packages the test suite needs beyond Python: Debian's chromium (report tests render report.html in a
# real headless browser). Installed only when missing, so a second `make test` does nothing here.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: chromium is missing and cannot be installed here (needs root and apt-get); report browser tests will fail" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
