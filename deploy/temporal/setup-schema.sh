#!/usr/bin/env bash
# One-shot before the server starts: create Temporal's two databases if missing, set up their schema if
# new, and apply the schema versions this admin-tools image ships (update-schema skips applied ones).
set -euo pipefail
: "${POSTGRES_USER:?}" "${POSTGRES_PWD:?set POSTGRES_PWD in deploy/env/temporal.env}"
export SQL_PASSWORD="$POSTGRES_PWD" PGPASSWORD="$POSTGRES_PWD"
schemas=/etc/temporal/schema/postgresql/v12

sql_tool() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"; }
query() { psql -h "$POSTGRES_SEEDS" -p "$DB_PORT" -U "$POSTGRES_USER" -d "$1" -tAc "$2"; }

for pair in temporal:temporal temporal_visibility:visibility; do
  db=${pair%%:*}
  schema=${pair##*:}
  if [ "$(query postgres "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
    sql_tool --db "$db" create
  fi
  if [ "$(query "$db" "SELECT 1 FROM information_schema.tables WHERE table_name = 'schema_version'")" != 1 ]; then
    sql_tool --db "$db" setup-schema -v 0.0
  fi
  sql_tool --db "$db" update-schema -d "$schemas/$schema/versioned"
done
echo "Temporal schemas are up to date"
