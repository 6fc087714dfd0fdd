#!/usr/bin/env bash
# `make run`: migrate, create the demo cast and data, start a Celery worker and the web
# server on 127.0.0.1:8000, and stop everything it started on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
export DEBUG=${DEBUG:-true}
host=${HEALTHWATCH_HOST:-127.0.0.1}
port=${HEALTHWATCH_PORT:-8000}

mkdir -p var/log
$py manage.py migrate --no-input -v 0
$py manage.py seed_demo
$py manage.py load_demo

pids=()
cleanup() {
  trap - INT TERM HUP EXIT
  echo
  echo "Stopping HealthWatch (pids ${pids[*]:-none})…"
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  # A worker finishes its current task first; after 20 s it is stopped hard (its task is
  # acknowledged late, so it runs again at the next start).
  for _ in $(seq 1 40); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  echo "Stopped."
}
trap cleanup INT TERM HUP EXIT

# Each service runs in its own session: the terminal's Ctrl-C or hang-up reaches only this
# script, which stops them in order (a Celery worker would otherwise restart on SIGHUP).
setsid .venv/bin/celery -A healthwatch worker --loglevel=INFO --concurrency=2 \
  >var/log/worker.log 2>&1 </dev/null &
pids+=($!)
setsid .venv/bin/celery -A healthwatch beat --loglevel=INFO --schedule var/celerybeat-schedule \
  >var/log/beat.log 2>&1 </dev/null &
pids+=($!)
setsid $py manage.py runserver --noreload "$host:$port" </dev/null &
pids+=($!)

sleep 2
cat <<MSG

HealthWatch is running (worker log: var/log/worker.log). Press Ctrl-C to stop everything.
  E-mail notifications are printed in var/log/worker.log (console backend; README "Notifications").
  Public site:         http://$host:$port/
  Staff login:         http://$host:$port/accounts/login/
  API documentation:   http://$host:$port/api/docs/   (after login)
  Administration:      http://$host:$port/admin/
MSG
$py manage.py demo_urls --base "http://$host:$port" || true
wait "${pids[@]}" || true
