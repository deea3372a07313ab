#!/usr/bin/env bash
# Wait up to 30 s for PostgreSQL at the given SQLAlchemy URL; fail (never skip) if it does not answer.
set -uo pipefail
url="${1#postgresql+psycopg://}"
for _ in $(seq 1 30); do
  if .venv/bin/python - "$1" <<'PY' 2>/dev/null
import sys, psycopg
u = sys.argv[1].replace("postgresql+psycopg://", "postgresql://")
psycopg.connect(u, connect_timeout=2).close()
PY
  then exit 0; fi
  sleep 1
done
echo "PostgreSQL is not reachable at ${url} — the PostgreSQL half of the suite cannot run." >&2
exit 1
