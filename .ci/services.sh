#!/usr/bin/env bash
# Services the test suite talks to for real: PostgreSQL (store conformance
# and the two-node test) and rsyslog (the syslog sink test). Starts or
# installs what is missing; outside CI a missing service only makes those
# tests skip with a message, in CI (CI=true) they fail.
set -uo pipefail

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
if ! pg_up; then
  if command -v pg_ctlcluster > /dev/null && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  elif [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "installing PostgreSQL"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql > /dev/null
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  fi
  for _ in $(seq 30); do pg_up && break; sleep 1; done
fi
pg_up && echo "PostgreSQL: up" || echo "PostgreSQL: NOT available (store tests against it will skip, or fail with CI=true)"

if ! command -v rsyslogd > /dev/null && [ ! -x /usr/sbin/rsyslogd ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "installing rsyslog"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q rsyslog rsyslog-gnutls > /dev/null ||
      { apt-get update -q > /dev/null && apt-get install -y -q rsyslog rsyslog-gnutls > /dev/null; }
  fi
fi
if command -v rsyslogd > /dev/null || [ -x /usr/sbin/rsyslogd ]; then
  echo "rsyslog: installed"
else
  echo "rsyslog: NOT available (the syslog sink test will skip, or fail with CI=true)"
fi
exit 0
