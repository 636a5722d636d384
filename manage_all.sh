#!/usr/bin/env bash
# One entry point for the whole pipeline on a machine without Docker.
#
#   ./manage_all.sh up [--consumers N] [component …]   install what is missing, start what is not running
#   ./manage_all.sh down [component …]   stop what `up` started (by recorded pid)
#   ./manage_all.sh status               each component: running or not, pid, address, ready or not
#   ./manage_all.sh logs [component]     list the logs, or follow one
#   ./manage_all.sh test [pytest args]   a separate test stack (ports +10000), pytest, then stop it
#   ./manage_all.sh demo                 place the README's sample order and watch it move
#   ./manage_all.sh bench [--orders N | --duration S] [--rate R] [--clients C] [--timeout S] [--no-raw]
#                                        measure a running `up`: latency, orders/s, CPU, lag, raw store/broker rates
#   ./manage_all.sh manage SITE ARGS…    manage.py of one site (order|payment|inventory|shipment)
#   ./manage_all.sh setup                only install (venv, Kafka jars, FerretDB)
#
# Downloads and builds are cached per user (~/.cache/orderpipe) so a fresh clone starts fast;
# run-time state (logs, pids, broker and store data) stays in the clone under .state/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${ORDERPIPE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orderpipe}
STATE=${ORDERPIPE_STATE:-$ROOT/.state}
VENV=${ORDERPIPE_VENV:-$ROOT/.venv}
PY=$VENV/bin/python

KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/infra/kafka/pom.xml")
KAFKA_LIB=$CACHE/kafka-$KAFKA_VERSION/lib
FERRETDB_VERSION=v1.24.2
FERRETDB_BIN=$CACHE/bin/ferretdb-$FERRETDB_VERSION-idfix-pushdown  # see setup_ferretdb for the two fixes

SITES=(order payment inventory shipment)

# The test stack has its own state and ports (+10000), so it never touches what `up` runs. Two test stacks can
# run side by side with ORDERPIPE_TEST_OFFSET and ORDERPIPE_TEST_STATE set for the second.
if [[ ${1:-} == test ]]; then
  ORDERPIPE_STATE=${ORDERPIPE_TEST_STATE:-$ROOT/.state/test} ORDERPIPE_PORT_OFFSET=${ORDERPIPE_TEST_OFFSET:-10000}
  STATE=$ORDERPIPE_STATE
fi

# Every port moves by ORDERPIPE_PORT_OFFSET, so a test stack (offset 10000) runs beside `up`.
OFFSET=${ORDERPIPE_PORT_OFFSET:-0}
KAFKA_PORT=$((9092 + OFFSET))
CONTROLLER_PORT=$((9093 + OFFSET))
STORE_PORT=$((27017 + OFFSET))
site_port() { local i; for i in "${!SITES[@]}"; do [[ ${SITES[$i]} == "$1" ]] && echo $((8001 + i + OFFSET)); done; }

# A broker or store that the environment points elsewhere is used as it is, and not started here.
LOCAL_KAFKA=127.0.0.1:$KAFKA_PORT
LOCAL_STORE=mongodb://127.0.0.1:$STORE_PORT/
EXTERNAL_KAFKA=; [[ ${KAFKA_BOOTSTRAP_SERVERS:-$LOCAL_KAFKA} == "$LOCAL_KAFKA" ]] || EXTERNAL_KAFKA=yes
EXTERNAL_STORE=; [[ ${MONGODB_URI:-$LOCAL_STORE} == "$LOCAL_STORE" ]] || EXTERNAL_STORE=yes
export KAFKA_BOOTSTRAP_SERVERS=${KAFKA_BOOTSTRAP_SERVERS:-$LOCAL_KAFKA}
export MONGODB_URI=${MONGODB_URI:-$LOCAL_STORE}
export ORDERPIPE_STATE=$STATE ORDERPIPE_PORT_OFFSET=$OFFSET

LOGS=$STATE/logs
RUN=$STATE/run
CONSUMERS=${ORDERPIPE_CONSUMERS:-1}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- setup

need() {  # command, what to install
  command -v "$1" >/dev/null 2>&1 || die "'$1' is missing: install $2 and run again."
}

check_tools() {
  need python3 "Python 3.11+ (python3, with the venv module)"
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python 3.11+ is needed (found $(python3 -V))."
  [[ -n $EXTERNAL_KAFKA ]] || need java "a Java 17+ runtime (Debian: openjdk-17-jre-headless)"
  [[ -n $EXTERNAL_KAFKA ]] || need mvn "Apache Maven (Debian: maven)"
  [[ -n $EXTERNAL_STORE ]] || need go "Go 1.24+ (to build FerretDB)"
}

setup_venv() {
  local stamp=$VENV/.requirements.sha256 want
  want=$(cat "$ROOT"/requirements/*.txt | sha256sum | cut -d' ' -f1)
  [[ -f $stamp && $(cat "$stamp") == "$want" ]] && return
  say "[setup] Python packages into $VENV (pip cache: $CACHE/pip)"
  [[ -x $PY ]] || python3 -m venv "$VENV"
  PIP_CACHE_DIR=$CACHE/pip "$PY" -m pip install --disable-pip-version-check --progress-bar on \
    -r "$ROOT/requirements/test.txt"
  echo "$want" > "$stamp"
}

setup_kafka() {
  [[ -n $EXTERNAL_KAFKA || -f $KAFKA_LIB/.complete ]] && return
  say "[setup] Apache Kafka $KAFKA_VERSION broker jars from Maven Central into $KAFKA_LIB"
  rm -rf "$KAFKA_LIB"
  mvn -B -f "$ROOT/infra/kafka/pom.xml" -Dmaven.repo.local="$CACHE/m2" \
    dependency:copy-dependencies -DoutputDirectory="$KAFKA_LIB" | grep -E '^\[INFO\] (Download|BUILD)|ERROR' || true
  ls "$KAFKA_LIB"/kafka_2.13-*.jar >/dev/null 2>&1 || die "collecting the Kafka jars failed (run the mvn command above by hand to see why)."
  touch "$KAFKA_LIB/.complete"
}

setup_ferretdb() {
  [[ -n $EXTERNAL_STORE || -x $FERRETDB_BIN ]] && return
  say "[setup] FerretDB $FERRETDB_VERSION from the Go module proxy, built into $FERRETDB_BIN (a few minutes, once)"
  export GOPATH=$CACHE/go GOCACHE=$CACHE/go/build GOFLAGS=-modcacherw
  local src=$CACHE/go/ferretdb-src module_dir
  module_dir=$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -d $module_dir ]] || die "downloading the FerretDB module failed."
  # `go install …/cmd/ferretdb@v1.24.2` builds a binary that panics at start: upstream's release build
  # writes build/version/version.txt first, and the module cache is read-only. So: copy, write it, build.
  rm -rf "$src" && cp -r "$module_dir" "$src" && chmod -R u+w "$src"
  echo "$FERRETDB_VERSION" > "$src/build/version/version.txt"
  # v1's SQLite backend looks a document up by `_ferretdb_sjson->'$._id'` but indexes `_ferretdb_sjson->"_id"`;
  # SQLite cannot match the two, so every find, update and delete by _id read the whole collection (16 ms per
  # lookup at 1,000 orders, growing). `->'_id'` is the same value and uses the index. (v1 is no longer developed.)
  local metadata=$src/internal/backends/sqlite/metadata/metadata.go
  sed -i "s/IDColumn = DefaultColumn + \"->'\$._id'\"/IDColumn = DefaultColumn + \"->'_id'\"/" "$metadata"
  grep -q "IDColumn = DefaultColumn + \"->'_id'\"" "$metadata" || die "the FerretDB _id lookup fix no longer applies"
  # It also uses that index only when the filter is `{_id: x}` alone: `{_id: x, status: "PAID"}` (a guarded update)
  # read the whole collection. Every caller filters the documents found again, so the _id part can always go to
  # SQLite: guarded single-document updates become index lookups too.
  local collection=$src/internal/backends/sqlite/collection.go
  sed -i 's/if params.Filter.Len() == 1 {/if params.Filter.Has("_id") {/' "$collection"
  [[ $(grep -c 'if params.Filter.Has("_id") {' "$collection") == 2 ]] || die "the FerretDB _id pushdown fix no longer applies"
  (cd "$src" && go build -o "$FERRETDB_BIN.tmp" ./cmd/ferretdb)
  mv "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
  rm -rf "$src"
}

setup() {
  check_tools
  mkdir -p "$CACHE"
  setup_venv
  setup_kafka
  setup_ferretdb
}

# ---------------------------------------------------------------- processes

pidfile() { echo "$RUN/$1.pid"; }

running_pid() {  # prints the pid if the component runs (its recorded process group leader is alive)
  local f pid
  f=$(pidfile "$1")
  [[ -f $f ]] || return 1
  pid=$(cat "$f")
  local pgid state
  read -r pgid state < <(ps -o pgid=,stat= -p "$pid" 2>/dev/null) || return 1
  # a dead process whose parent has not reaped it yet is a zombie (Z): not running
  [[ $pgid == "$pid" && $state != Z* ]] || return 1
  echo "$pid"
}

start() {  # name, dir, command…: start detached in its own process group, remember its pid
  local name=$1 dir=$2; shift 2
  if running_pid "$name" >/dev/null; then return; fi
  mkdir -p "$LOGS" "$RUN"
  echo "--- started $(date -Is): $*" >> "$LOGS/$name.log"
  (cd "$dir" && exec setsid "$@" >> "$LOGS/$name.log" 2>&1 < /dev/null) &
  echo $! > "$(pidfile "$name")"
  disown $!  # its own life: this shell neither waits for it nor reports its end
  echo "    started $name (pid $!)"
}

stop() {  # SIGTERM to each component's whole group, at once; SIGKILL what is left after a grace period
  local name pid i left
  local -A pids=()
  for name in "$@"; do
    if pid=$(running_pid "$name"); then
      pids[$name]=$pid
      kill -TERM -- "-$pid" 2>/dev/null || true
    else
      rm -f "$(pidfile "$name")"
    fi
  done
  for ((i = 0; i < 150; i++)); do
    left=0
    for name in "${!pids[@]}"; do running_pid "$name" >/dev/null && left=1; done
    [[ $left == 0 ]] && break
    sleep 0.1
  done
  for name in "${!pids[@]}"; do
    if running_pid "$name" >/dev/null; then kill -KILL -- "-${pids[$name]}" 2>/dev/null || true; fi
    rm -f "$(pidfile "$name")"
    echo "    stopped $name (pid ${pids[$name]})"
  done
}

wait_ready() {  # name, probe args…: a real probe with a deadline, or a clear error naming the log
  local name=$1; shift
  if ! "$PY" "$ROOT/infra/probe.py" "$@"; then
    echo "--- last lines of $LOGS/$name.log:" >&2
    tail -n 20 "$LOGS/$name.log" >&2 || true
    die "$name did not become ready: see $LOGS/$name.log"
  fi
}

# ---------------------------------------------------------------- components

start_kafka() {
  [[ -n $EXTERNAL_KAFKA ]] && return
  local dir=$STATE/kafka props=$STATE/kafka/server.properties
  mkdir -p "$dir"
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" -e "s|@DATA_DIR@|$dir/data|g" \
    "$ROOT/infra/kafka/server.properties" > "$props"
  local java=(java -cp "$KAFKA_LIB/*" -Dlog4j2.configurationFile="$ROOT/infra/kafka/log4j2.yaml")
  if [[ ! -f $dir/data/meta.properties ]]; then
    [[ -f $dir/cluster.id ]] || "${java[@]}" kafka.tools.StorageTool random-uuid > "$dir/cluster.id"
    "${java[@]}" kafka.tools.StorageTool format --standalone -t "$(cat "$dir/cluster.id")" -c "$props" \
      --ignore-formatted > /dev/null
  fi
  start kafka "$dir" "${java[@]}" -Xms512m -Xmx512m -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dkafka.logs.dir="$LOGS" kafka.Kafka "$props"
}

start_store() {
  [[ -n $EXTERNAL_STORE ]] && return
  mkdir -p "$STATE/ferretdb/data"
  # WAL with synchronous=NORMAL: a commit no longer waits for fsync (a power cut may lose the last
  # commits, a crash of any process loses nothing); with the default FULL every write waits on the disk.
  start ferretdb "$STATE/ferretdb" "$FERRETDB_BIN" --handler=sqlite \
    --sqlite-url="file:$STATE/ferretdb/data/?_pragma=synchronous(normal)" \
    --listen-addr="127.0.0.1:$STORE_PORT" --state-dir="$STATE/ferretdb" --debug-addr=- \
    --telemetry=disable --log-level=warn
}

site_dir() { echo "$ROOT/${1}_site"; }
existing_sites() { local s; for s in "${SITES[@]}"; do [[ -f $(site_dir "$s")/manage.py ]] && echo "$s"; done; }
manage() { local site=$1; shift; (cd "$(site_dir "$site")" && "$PY" manage.py "$@"); }

secret_key() {  # one random key per state folder: never in the repo
  [[ -n ${DJANGO_SECRET_KEY:-} ]] && return
  mkdir -p "$STATE"
  [[ -f $STATE/secret_key ]] || "$PY" -c 'import secrets; print(secrets.token_urlsafe(50))' > "$STATE/secret_key"
  DJANGO_SECRET_KEY=$(cat "$STATE/secret_key")
  export DJANGO_SECRET_KEY
}

prepare_sites() {  # one-shot steps before the long-running processes: topics, Django's own tables
  local sites=("$@") pids=() s
  [[ ${#sites[@]} -gt 0 ]] || return 0
  say "Topics and Django tables"
  manage "${sites[0]}" ensure_topics
  for s in "${sites[@]}"; do manage "$s" migrate --noinput > "$LOGS/migrate-$s.log" 2>&1 & pids+=($!); done
  for s in "${pids[@]}"; do wait "$s" || die "a migration failed: see $LOGS/migrate-*.log"; done
}

components() {  # every long-running component, in start order
  [[ -n $EXTERNAL_KAFKA ]] || echo kafka
  [[ -n $EXTERNAL_STORE ]] || echo ferretdb
  local s i
  for s in $(existing_sites); do echo "web-$s"; done
  for s in $(existing_sites); do
    for ((i = 1; i <= CONSUMERS; i++)); do echo "consumer-$s-$i"; done
  done
  # the order site's events start from HTTP requests, so its outbox has a relay process of its own
  [[ -f $(site_dir order)/manage.py ]] && echo relay-order
  return 0
}

start_component() {
  local name=$1 site
  case $name in
    kafka) start_kafka ;;
    ferretdb) start_store ;;
    web-*)
      site=${name#web-}
      start "$name" "$(site_dir "$site")" "$VENV/bin/gunicorn" "${site}_site.wsgi" \
        -c "$ROOT/common/gunicorn.conf.py" --bind "127.0.0.1:$(site_port "$site")" ;;
    consumer-*)
      site=${name#consumer-}; site=${site%-*}
      start "$name" "$(site_dir "$site")" "$PY" manage.py runconsumer --instance "$name" ;;
    relay-*)
      site=${name#relay-}
      start "$name" "$(site_dir "$site")" "$PY" manage.py runrelay ;;
    *) die "unknown component '$name' (see ./manage_all.sh status)" ;;
  esac
}

address_of() {
  case $1 in
    kafka) echo "$KAFKA_BOOTSTRAP_SERVERS" ;;
    ferretdb) echo "$MONGODB_URI" ;;
    web-*) echo "http://127.0.0.1:$(site_port "${1#web-}")/" ;;
    *) echo "-" ;;
  esac
}

probe_args() {  # how to tell that a component is ready
  case $1 in
    kafka) echo "kafka $KAFKA_BOOTSTRAP_SERVERS" ;;
    ferretdb) echo "mongo $MONGODB_URI" ;;
    web-*) echo "http http://127.0.0.1:$(site_port "${1#web-}")/ready" ;;
  esac
}

# ---------------------------------------------------------------- commands

cmd_up() {
  local wanted=() c
  while [[ $# -gt 0 ]]; do
    case $1 in
      --consumers) CONSUMERS=$2; shift 2 ;;
      *) wanted+=("$1"); shift ;;
    esac
  done
  setup
  secret_key
  mkdir -p "$LOGS" "$RUN"
  [[ ${#wanted[@]} -gt 0 ]] || mapfile -t wanted < <(components)

  say "Broker and store"
  for c in kafka ferretdb; do [[ " ${wanted[*]} " == *" $c "* ]] && start_component "$c"; done
  [[ " ${wanted[*]} " == *" ferretdb "* ]] && wait_ready ferretdb $(probe_args ferretdb) --deadline 30
  [[ " ${wanted[*]} " == *" kafka "* ]] && wait_ready kafka $(probe_args kafka) --deadline 120

  local sites=()
  mapfile -t sites < <(existing_sites)
  for c in "${wanted[@]}"; do  # topics and tables only when a site is about to start
    if [[ $c == web-* ]] && ! running_pid "$c" >/dev/null; then prepare_sites "${sites[@]}"; break; fi
  done
  say "Sites and consumers"
  for c in "${wanted[@]}"; do [[ $c == kafka || $c == ferretdb ]] || start_component "$c"; done
  for c in "${wanted[@]}"; do [[ $c == web-* ]] && wait_ready "$c" $(probe_args "$c") --deadline 60; done
  cmd_status
  echo "Logs: $LOGS   (./manage_all.sh logs NAME)"
}

cmd_down() {
  local names=() apps=() infra=() name
  [[ $# -gt 0 ]] && names=("$@") || mapfile -t names < <(ls "$RUN" 2>/dev/null | sed -n 's/\.pid$//p')
  for name in "${names[@]}"; do
    case $name in kafka | ferretdb) infra+=("$name") ;; *) apps+=("$name") ;; esac
  done
  # the sites and consumers first (they finish their current event), the broker and store last
  [[ ${#apps[@]} -eq 0 ]] || stop "${apps[@]}"
  [[ ${#infra[@]} -eq 0 ]] || stop "${infra[@]}"
}

cmd_status() {
  local c pid ready all=()
  mapfile -t all < <({ components; ls "$RUN" 2>/dev/null | sed -n 's/\.pid$//p'; } | awk '!seen[$0]++')
  printf '%-22s %-8s %-8s %-6s %s\n' COMPONENT STATE PID READY ADDRESS
  for c in "${all[@]}"; do
    if pid=$(running_pid "$c"); then
      ready=-
      if [[ -n $(probe_args "$c") ]]; then
        ready=no; "$PY" "$ROOT/infra/probe.py" $(probe_args "$c") --deadline 0 2>/dev/null && ready=yes
      fi
      printf '%-22s %-8s %-8s %-6s %s\n' "$c" running "$pid" "$ready" "$(address_of "$c")"
    else
      printf '%-22s %-8s %-8s %-6s %s\n' "$c" stopped - - "$(address_of "$c")"
    fi
  done
  [[ -n $EXTERNAL_KAFKA ]] && echo "broker: external, $KAFKA_BOOTSTRAP_SERVERS"
  [[ -n $EXTERNAL_STORE ]] && echo "store: external, $MONGODB_URI"
  return 0
}

cmd_logs() {
  if [[ $# -eq 0 ]]; then ls -1 "$LOGS" 2>/dev/null | sed 's/\.log$//'; return; fi
  tail -n 100 -F "$LOGS/$1.log"
}

cmd_test() {
  cmd_up
  local status=0
  (cd "$ROOT" && "$PY" -m pytest "$@") || status=$?
  [[ -n ${ORDERPIPE_KEEP_TEST_STACK:-} ]] || cmd_down
  [[ $status -eq 5 ]] && die "pytest collected no tests"
  return $status
}

cmd_demo() {
  "$PY" "$ROOT/infra/demo.py" "http://127.0.0.1:$(site_port order)"
}

cmd_bench() {
  secret_key  # the bench reads the project's producer settings through the order site's Django settings
  (cd "$ROOT" && DJANGO_SETTINGS_MODULE=order_site.settings PYTHONPATH="$ROOT/order_site:$ROOT" "$PY" -m bench.bench \
    --order-site "http://127.0.0.1:$(site_port order)" --inventory-site "http://127.0.0.1:$(site_port inventory)" \
    --run-dir "$RUN" "$@")
}

case ${1:-help} in
  setup) setup ;;
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  status) cmd_status ;;
  logs) shift; cmd_logs "$@" ;;
  test) shift; cmd_test "$@" ;;
  demo) cmd_demo ;;
  bench) shift; cmd_bench "$@" ;;
  manage) shift; [[ $# -ge 1 ]] || die "usage: ./manage_all.sh manage SITE ARGS…"; secret_key; manage "$@" ;;
  *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; [[ ${1:-help} == help || $1 == -h || $1 == --help ]] ;;
esac
