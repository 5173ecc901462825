#!/usr/bin/env bash
# Install headless Chromium (Debian) and Playwright's Python driver if missing, then
# check the built book in a real browser. Needs root for apt-get (as on CI machines).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
.venv/bin/python -c "import playwright" 2>/dev/null \
  || .venv/bin/python -m pip install --quiet "playwright==1.65.2"
.venv/bin/python scripts/browser_check.py "$@"
