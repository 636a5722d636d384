#!/usr/bin/env bash
# One entry point for the whole pipeline on a machine without Docker.
#
#   ./manage_all.sh up [--consumers N] [component …]   install what is missing, start what is not running
#   ./manage_all.sh up --brokers 3       Kafka as a three-node cluster (kept for this state folder; 1 is the default)
#   ./manage_all.sh down [component …]   stop what `up` started (by recorded pid)
#   ./manage_all.sh status               each component: running or not, pid, address, ready or not
#   ./manage_all.sh logs [component]     list the logs, or follow one
#   ./manage_all.sh logs --order ID [--json]   one order's lines from every component's log, in time order
#   ./manage_all.sh admin-password       the password of user `admin` in every site's /admin/ (made by `up`)
#   ./manage_all.sh test [pytest args]   a separate test stack (ports +2000), pytest, then stop it
#   ./manage_all.sh test --quick         the same without the fault, cluster, experiment and browser tests
#   ./manage_all.sh demo                 place the README's sample order and watch it move
#   ./manage_all.sh bench [--orders N | --duration S] [--rate R] [--clients C] [--timeout S] [--no-raw]
#                                        measure a running `up`: latency, orders/s, CPU, lag, raw store/broker rates
#   ./manage_all.sh bench --idle [S]     what a running `up` costs doing nothing: CPU and memory per component
#   ./manage_all.sh bench --pages [--sizes N,N,…] [--samples S] [--budget SECONDS]
#                                        fill a running `up` to each size (cloned orders), time every list page
#   ./manage_all.sh bench --store-mix [BINARY…] [--rounds N]   the store alone: CPU per operation of a fixed mix
#   ./manage_all.sh screenshots          retake the README's console and trace pictures (docs/images) while a burst flows
#   ./manage_all.sh experiment scale | break consumer|site|broker|store | replay GROUP | add-service
#                                        the course's experiments on a running `up`, each ending in PASS or FAIL
#   ./manage_all.sh manage SITE ARGS…    manage.py of one site (order|payment|inventory|shipment|notification)
#   ./manage_all.sh setup                only install (venv, Kafka jars, FerretDB, Mongo Express, Zipkin)
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
# the project's patches (infra/ferretdb/README.md): a binary per patch set, so changing a patch rebuilds it
FERRETDB_PATCHES=("$ROOT"/infra/ferretdb/*.patch)
FERRETDB_BIN=$CACHE/bin/ferretdb-$FERRETDB_VERSION-$(cat "${FERRETDB_PATCHES[@]}" | sha256sum | cut -c1-12)
# the modules of FerretDB's that the patches change (0009: the C library, 0010 and 0012: the SQLite driver), copied
# from the Go module proxy into its source's third_party/ before the patches apply; a patch points go.mod at each
# with a `replace`
FERRETDB_PATCHED_MODULES=(modernc.org/libc@v1.55.3 modernc.org/sqlite@v1.32.0)
FERRETDB_UPSTREAM_BIN=$CACHE/bin/ferretdb-$FERRETDB_VERSION-upstream  # unpatched, for the differential test
# How every FerretDB of the project opens its SQLite files: `up`'s, and those bench/store_mix.py starts (the store
# mix, the differential test).
# - WAL with synchronous=NORMAL: a commit no longer waits for fsync (a power cut may lose the last commits, a crash
#   of any process loses nothing); with the default FULL every write waits on the disk.
# - cache_size: 512 KB of page cache per connection, not SQLite's 2 MB. In WAL mode a connection drops its cache
#   whenever another one has committed, which here is every few milliseconds, so the cache serves little more than
#   one statement; and the memory of every cache a burst's connections filled stays with the process (the C
#   allocator under SQLite hands pages back only when they are empty: docs/performance.md, "The store's memory").
export ORDERPIPE_FERRETDB_SQLITE_OPTIONS="_pragma=synchronous(normal)&_pragma=cache_size(-512)"
# Compose's own loader (compose-go) in a small Go program, for tests/infra/test_compose.py; named by its sources
COMPOSE_CHECK_BIN=$CACHE/bin/compose-check-$(cat "$ROOT"/infra/compose-check/{go.mod,go.sum,main.go} | sha256sum | cut -c1-12)
# 1.0.2 does not install from npm (a `patch:` dependency); 1.0.0 works against FerretDB, bar its aggregate view
MONGO_EXPRESS_VERSION=1.0.0
MONGO_EXPRESS_PREFIX=$CACHE/mongo-express-$MONGO_EXPRESS_VERSION
ZIPKIN_VERSION=3.5.1
ZIPKIN_JAR=$CACHE/m2/io/zipkin/zipkin-server/$ZIPKIN_VERSION/zipkin-server-$ZIPKIN_VERSION-exec.jar

SITES=(order payment inventory shipment notification)  # site N serves on port 8000+N; add a site here

# The test stack has its own state and ports (+2000), so it never touches what `up` runs. Two test stacks can
# run side by side with ORDERPIPE_TEST_OFFSET, ORDERPIPE_TEST_STATE and ORDERPIPE_CLUSTER_TEST_OFFSET set for the
# second (say 4500 and 5000: the test of `up` itself runs at the test stack's offset + 1000; see check_ports).
if [[ ${1:-} == test ]]; then
  ORDERPIPE_STATE=${ORDERPIPE_TEST_STATE:-$ROOT/.state/test} ORDERPIPE_PORT_OFFSET=${ORDERPIPE_TEST_OFFSET:-2000}
  STATE=$ORDERPIPE_STATE
fi

# Every port moves by ORDERPIPE_PORT_OFFSET, so a test stack (offset 2000) runs beside `up`. Offsets stay small:
# see check_ports.
OFFSET=${ORDERPIPE_PORT_OFFSET:-0}
STORE_PORT=$((27017 + OFFSET))
STORE_DEBUG_PORT=$((8088 + OFFSET))  # FerretDB's metrics and Go profiles (pprof), loopback only
MONGO_EXPRESS_PORT=$((8081 + OFFSET))
CONSOLE_PORT=$((9000 + OFFSET))  # the Kafka console, where Kafdrop sits under docker-compose
ZIPKIN_PORT=$((9411 + OFFSET))  # the trace UI and the spans' endpoint
# Kafka nodes: one, or three after `up --brokers 3`, which the state folder remembers for status, down and the
# next up. Node N listens for clients on 9090+2N and for its controller peers on 9091+2N (the first: 9092, 9093).
BROKERS=$(cat "$STATE/brokers" 2>/dev/null || echo 1)
[[ ${1:-} == up && " $* " =~ \ --brokers\ ([^ ]+)\  ]] && BROKERS=${BASH_REMATCH[1]}
broker_port() { echo $((9090 + 2 * $1 + OFFSET)); }
controller_port() { echo $((9091 + 2 * $1 + OFFSET)); }
kafka_nodes() { if [[ $BROKERS == 1 ]]; then echo kafka; else seq -f 'kafka-%g' "$BROKERS"; fi; }
is_kafka_node() { [[ $1 == kafka || $1 =~ ^kafka-[0-9]$ ]]; }
node_of() { if [[ $1 == kafka ]]; then echo 1; else echo "${1#kafka-}"; fi; }  # kafka-2 → 2
KAFKA_HEAP=512m; [[ $BROKERS == 1 ]] || KAFKA_HEAP=256m  # per node; what each uses is measured in the README
node_addresses() {  # port function: every node's address, comma-separated
  local node list=()
  for ((node = 1; node <= BROKERS; node++)); do list+=("127.0.0.1:$("$1" "$node")"); done
  (IFS=,; echo "${list[*]}")
}
site_port() { local i; for i in "${!SITES[@]}"; do if [[ ${SITES[$i]} == "$1" ]]; then echo $((8001 + i + OFFSET)); fi; done; }

# A server port inside the kernel's ephemeral range (ip_local_port_range) can be held, at random, by the local end
# of any outgoing connection when the server binds it: "Address already in use" one start in many (CI met it with
# the ports of offset 25000). So every port stays below that range, which caps the offset (5750 on Linux).
check_ports() {
  local low high port c
  read -r low high 2>/dev/null </proc/sys/net/ipv4/ip_local_port_range || return 0
  for port in $(for c in $(kafka_nodes) ferretdb mongo-express console zipkin "${SITES[@]/#/web-}"; do ports_of "$c"; done); do
    ((port < low || port > high)) || die "port $port (ORDERPIPE_PORT_OFFSET=$OFFSET) is in this machine's ephemeral" \
      "range $low-$high, where any outgoing connection may hold it; an offset from 0 to $((low - 1 - 27017)) keeps" \
      "every port below it"
  done
}

# A broker or store that the environment points elsewhere is used as it is, and not started here.
LOCAL_KAFKA=$(node_addresses broker_port)
LOCAL_STORE=mongodb://127.0.0.1:$STORE_PORT/
EXTERNAL_KAFKA=; [[ ${KAFKA_BOOTSTRAP_SERVERS:-$LOCAL_KAFKA} == "$LOCAL_KAFKA" ]] || EXTERNAL_KAFKA=yes
EXTERNAL_STORE=; [[ ${MONGODB_URI:-$LOCAL_STORE} == "$LOCAL_STORE" ]] || EXTERNAL_STORE=yes
export KAFKA_BOOTSTRAP_SERVERS=${KAFKA_BOOTSTRAP_SERVERS:-$LOCAL_KAFKA}
# our own nodes: every topic on each of them (ensure_topics), a write acknowledged by a majority (server.properties)
[[ -n $EXTERNAL_KAFKA ]] || export KAFKA_REPLICATION_FACTOR=${KAFKA_REPLICATION_FACTOR:-$BROKERS}
export MONGODB_URI=${MONGODB_URI:-$LOCAL_STORE}
# Every process sends its spans to our Zipkin unless the environment names another collector; `up` traces every
# order (the SDK's default sampler, parentbased_always_on, unless OTEL_TRACES_SAMPLER says otherwise).
LOCAL_ZIPKIN=http://127.0.0.1:$ZIPKIN_PORT/api/v2/spans
EXTERNAL_ZIPKIN=; [[ ${OTEL_EXPORTER_ZIPKIN_ENDPOINT:-$LOCAL_ZIPKIN} == "$LOCAL_ZIPKIN" ]] || EXTERNAL_ZIPKIN=yes
export OTEL_EXPORTER_ZIPKIN_ENDPOINT=${OTEL_EXPORTER_ZIPKIN_ENDPOINT:-$LOCAL_ZIPKIN}
export ZIPKIN_UI_URL=${ZIPKIN_UI_URL:-http://127.0.0.1:$ZIPKIN_PORT/zipkin/}
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

build_ferretdb() {  # binary, patch…: FerretDB's module with the patches applied in order, built into binary
  local bin=$1 patch; shift
  [[ -x $bin ]] && return
  local what="FerretDB $FERRETDB_VERSION"; [[ $# -eq 0 ]] || what+=" with the project's $# patches"
  say "[setup] $what from the Go module proxy, built into $bin (a few minutes, once)"
  export GOPATH=$CACHE/go GOCACHE=$CACHE/go/build GOFLAGS=-modcacherw
  local src module_dir
  module_dir=$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -d $module_dir ]] || die "downloading the FerretDB module failed."
  # `go install …/cmd/ferretdb@v1.24.2` builds a binary that panics at start: upstream's release build
  # writes build/version/version.txt first, and the module cache is read-only. So: copy, write it, build.
  src=$(mktemp -d "$CACHE/go/ferretdb-src.XXXXXX")  # one per build: two clones may build at once
  cp -r "$module_dir/." "$src"
  local module
  if [[ $# -gt 0 ]]; then  # upstream's build takes its modules as they are
    for module in "${FERRETDB_PATCHED_MODULES[@]}"; do
      module_dir=$(go mod download -json "$module" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
      [[ -d $module_dir ]] || die "downloading the module $module (for the FerretDB patches) failed."
      mkdir -p "$src/third_party/${module%@*}" && cp -r "$module_dir/." "$src/third_party/${module%@*}"
    done
  fi
  chmod -R u+w "$src"
  echo "$FERRETDB_VERSION" > "$src/build/version/version.txt"
  for patch in "$@"; do
    # outside any git repository, whatever folder the cache is in
    (cd "$src" && GIT_CEILING_DIRECTORIES=$(dirname "$src") git apply "$patch") \
      || die "the FerretDB patch $patch does not apply to $FERRETDB_VERSION (git apply's message above)"
  done
  (cd "$src" && go build -o "$bin.$$" ./cmd/ferretdb)
  if [[ $# -gt 0 ]]; then  # the Go tests of the packages the patches change, for tests/infra/test_store_patches.py
    rm -rf "$bin.tests" && mkdir -p "$bin.tests"
    (cd "$src" && go test -c -o "$bin.tests/sjson.test" ./internal/handler/sjson/ \
      && go test -c -o "$bin.tests/sqlite.test" ./internal/backends/sqlite/ \
      && go test -c -o "$bin.tests/fsql.test" ./internal/util/fsql/ \
      && go test -c -o "$bin.tests/handler.test" ./internal/handler/) || die "building the patches' Go tests failed"
  fi
  mv "$bin.$$" "$bin"
  rm -rf "$src"
}

build_compose_check() {
  [[ -x $COMPOSE_CHECK_BIN ]] && return
  need go "Go 1.24+ (to build infra/compose-check)"
  say "[setup] infra/compose-check with compose-go from the Go module proxy, built into $COMPOSE_CHECK_BIN"
  mkdir -p "$CACHE/bin"
  (cd "$ROOT/infra/compose-check" && GOPATH=$CACHE/go GOCACHE=$CACHE/go/build GOFLAGS=-modcacherw \
    go build -o "$COMPOSE_CHECK_BIN.$$" .) || die "building infra/compose-check failed (go's message above)"
  mv "$COMPOSE_CHECK_BIN.$$" "$COMPOSE_CHECK_BIN"
}

setup_ferretdb() {
  [[ -n $EXTERNAL_STORE ]] || build_ferretdb "$FERRETDB_BIN" "${FERRETDB_PATCHES[@]}"
}

setup_mongo_express() {  # optional: without node and npm there is no store UI, and everything else runs
  [[ -f $MONGO_EXPRESS_PREFIX/.complete ]] && return
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    say "[setup] skipping Mongo Express: node and npm are missing (Debian: nodejs npm)"
    return
  fi
  say "[setup] Mongo Express $MONGO_EXPRESS_VERSION from npm into $MONGO_EXPRESS_PREFIX"
  if npm install --prefix "$MONGO_EXPRESS_PREFIX" --cache "$CACHE/npm" --no-audit --no-fund --loglevel=error \
    "mongo-express@$MONGO_EXPRESS_VERSION"; then
    touch "$MONGO_EXPRESS_PREFIX/.complete"
  else
    say "[setup] Mongo Express did not install (npm's error above): everything else runs without it"
  fi
}

setup_zipkin() {  # the trace UI: Zipkin's exec jar from Maven Central, like the Kafka jars
  [[ -n $EXTERNAL_ZIPKIN || -f $ZIPKIN_JAR ]] && return
  if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
    say "[setup] skipping Zipkin: java and mvn are missing (Debian: openjdk-17-jre-headless maven)"
    return
  fi
  say "[setup] Zipkin $ZIPKIN_VERSION server (one jar, ~125 MB) from Maven Central into $CACHE/m2"
  mvn -B -q dependency:get -Dartifact="io.zipkin:zipkin-server:$ZIPKIN_VERSION:jar:exec" -Dtransitive=false \
    -Dmaven.repo.local="$CACHE/m2" || true
  [[ -f $ZIPKIN_JAR ]] || say "[setup] Zipkin did not download (mvn's error above): everything else runs without traces"
}

setup_chromium() {  # for the browser tests and screenshots: Debian's headless chromium and its chromedriver
  [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] && return
  command -v apt-get >/dev/null 2>&1 || die "chromium is missing and there is no apt-get: install chromium and chromedriver into /usr/bin."
  local as_root=()
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "chromium is missing and installing it needs root or sudo: apt-get install chromium chromium-driver"
    as_root=(sudo)
  fi
  say "[setup] Debian's chromium and chromium-driver with apt-get (for the browser tests)"
  "${as_root[@]}" apt-get update -q && "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends chromium chromium-driver || die "installing chromium and chromium-driver with apt-get failed (see above)"
}

setup() {
  check_tools
  mkdir -p "$CACHE"
  setup_venv
  setup_kafka
  setup_ferretdb
  setup_mongo_express
  setup_zipkin
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

kafka_uuid() {  # what `StorageTool random-uuid` prints (16 random bytes, url-safe base64, no leading '-'), sans JVM
  "$PY" -c $'import base64, uuid\nwhile (i := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"): pass\nprint(i)'
}

initial_voters() {  # the cluster's controllers as `StorageTool format --initial-controllers` wants them
  local node list=()
  for ((node = 1; node <= BROKERS; node++)); do list+=("$node@127.0.0.1:$(controller_port "$node"):$(kafka_uuid)"); done
  (IFS=,; echo "${list[*]}")
}

kafka_cluster_files() {  # made once, before any node is formatted with them: the cluster's id and its voters
  local cluster=$STATE/kafka
  mkdir -p "$cluster"
  [[ -f $cluster/cluster.id ]] || kafka_uuid > "$cluster/cluster.id"
  [[ $BROKERS == 1 || -f $cluster/voters ]] || initial_voters > "$cluster/voters"
}

start_kafka() {  # name: kafka (the one broker) or kafka-N (node N of the cluster)
  [[ -n $EXTERNAL_KAFKA ]] && return
  local name=$1 node cluster=$STATE/kafka  # the cluster's id (and voters) live in .state/kafka/
  node=$(node_of "$name")
  local dir=$STATE/$name props=$STATE/$name/server.properties
  mkdir -p "$dir"
  sed -e "s|@NODE_ID@|$node|g" -e "s|@KAFKA_PORT@|$(broker_port "$node")|g" \
    -e "s|@CONTROLLER_PORT@|$(controller_port "$node")|g" -e "s|@CONTROLLER_QUORUM@|$(node_addresses controller_port)|g" \
    -e "s|@REPLICATION_FACTOR@|$BROKERS|g" -e "s|@MIN_INSYNC_REPLICAS@|$((BROKERS / 2 + 1))|g" \
    -e "s|@DATA_DIR@|$dir/data|g" "$ROOT/infra/kafka/server.properties" > "$props"
  local java=(java -cp "$KAFKA_LIB/*" -Dlog4j2.configurationFile="$ROOT/infra/kafka/log4j2.yaml")
  if [[ ! -f $dir/data/meta.properties ]]; then
    local quorum=(--standalone)
    [[ $BROKERS == 1 ]] || quorum=(--initial-controllers "$(cat "$cluster/voters")")
    "${java[@]}" kafka.tools.StorageTool format "${quorum[@]}" -t "$(cat "$cluster/cluster.id")" -c "$props" \
      --ignore-formatted > /dev/null
  fi
  # AlwaysPreTouch: the whole heap is in memory from the start (as Elasticsearch runs), not filled region by region
  # over the first half hour, so the broker's RSS is flat from its first minute (docs/performance.md, the hour).
  # The serial collector, not Kafka's default G1: on 2 shared cores G1's concurrent threads and write barriers cost
  # more than they save; 7 % less of the broker's CPU per order at 100 orders/s, young pauses no longer
  # (docs/performance.md, "Two broker settings").
  start "$name" "$dir" "${java[@]}" -Xms$KAFKA_HEAP -Xmx$KAFKA_HEAP -XX:+AlwaysPreTouch -server -XX:+UseSerialGC \
    -Djava.awt.headless=true -Dkafka.logs.dir="$LOGS" kafka.Kafka "$props"
}

start_store() {
  [[ -n $EXTERNAL_STORE ]] && return
  mkdir -p "$STATE/ferretdb/data"
  # GOGC=200: Go's collector runs half as often, for 4 % less of the store's CPU per operation (docs/performance.md)
  GOGC=200 start ferretdb "$STATE/ferretdb" "$FERRETDB_BIN" --handler=sqlite \
    --sqlite-url="file:$STATE/ferretdb/data/?$ORDERPIPE_FERRETDB_SQLITE_OPTIONS" \
    --listen-addr="127.0.0.1:$STORE_PORT" --state-dir="$STATE/ferretdb" --debug-addr="127.0.0.1:$STORE_DEBUG_PORT" \
    --telemetry=disable --log-level=warn
}

start_mongo_express() {  # loopback only, behind a login generated into the state folder (1.0.0's default is admin:pass)
  ME_CONFIG_MONGODB_URL=$MONGODB_URI ME_CONFIG_MONGODB_ENABLE_ADMIN=true VCAP_APP_HOST=127.0.0.1 \
    PORT=$MONGO_EXPRESS_PORT ME_CONFIG_BASICAUTH_USERNAME=admin \
    ME_CONFIG_BASICAUTH_PASSWORD=$(state_secret mongo-express-password) \
    ME_CONFIG_SITE_COOKIESECRET=$(state_secret mongo-express-cookie-secret) \
    ME_CONFIG_SITE_SESSIONSECRET=$(state_secret mongo-express-session-secret) \
    start mongo-express "$MONGO_EXPRESS_PREFIX/node_modules/mongo-express" node app.js
}

start_zipkin() {  # in-memory storage (traces are gone after a restart), loopback only
  # without our KAFKA_BOOTSTRAP_SERVERS: Zipkin would read it as its own, and collect spans from a `zipkin` topic.
  # The last 50,000 spans (~2,500 orders) in a 512 MB heap: every span it keeps is copied and marked by each
  # collection until it is dropped, and 100,000 in 384 MB made collecting two thirds of Zipkin's CPU (0.82 -> 0.56
  # ms per order, docs/performance.md). Java's full JIT (C2), not C1 alone: once warm, 11 % less CPU per span.
  start zipkin "$STATE" env -u KAFKA_BOOTSTRAP_SERVERS MEM_MAX_SPANS=50000 java -Xms64m -Xmx512m -XX:+UseSerialGC \
    -jar "$ZIPKIN_JAR" --armeria.ports[0].ip=127.0.0.1 --armeria.ports[0].port="$ZIPKIN_PORT" \
    --armeria.ports[0].protocols[0]=http --logging.level.root=warn
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

state_secret() {  # name: print the random secret kept in $STATE/name (mode 600), made on first use
  local file=$STATE/$1
  if [[ ! -s $file ]]; then
    mkdir -p "$STATE"
    (umask 077 && "$PY" -c 'import secrets; print(secrets.token_urlsafe(16))' > "$file")
  fi
  cat "$file"
}

prepare_sites() {  # one-shot steps before the long-running processes: topics, Django's own tables, the admin user
  local sites=("$@") pids=() s admin_password
  [[ ${#sites[@]} -gt 0 ]] || return 0
  say "Topics, Django tables and the admin user"
  admin_password=$(state_secret admin-password)
  manage "${sites[0]}" ensure_topics
  for s in "${sites[@]}"; do
    # the password goes through the environment: a command line is visible to every user in `ps`
    { manage "$s" migrate --noinput && DJANGO_SUPERUSER_PASSWORD=$admin_password manage "$s" ensure_admin; } \
      > "$LOGS/migrate-$s.log" 2>&1 & pids+=($!)
  done
  for s in "${pids[@]}"; do wait "$s" || die "a migration or the admin user failed: see $LOGS/migrate-*.log"; done
}

components() {  # every long-running component, in start order
  [[ -n $EXTERNAL_KAFKA ]] || kafka_nodes
  [[ -n $EXTERNAL_STORE ]] || echo ferretdb
  [[ -n $EXTERNAL_ZIPKIN || ! -f $ZIPKIN_JAR ]] || echo zipkin
  local s i
  for s in $(existing_sites); do echo "web-$s"; done
  for s in $(existing_sites); do
    for ((i = 1; i <= CONSUMERS; i++)); do echo "consumer-$s-$i"; done
  done
  # the order site's events start from HTTP requests, so its outbox has a relay process of its own
  [[ -f $(site_dir order)/manage.py ]] && echo relay-order
  [[ -f $ROOT/console_site/manage.py ]] && echo console  # the read-only Kafka console
  [[ -f $MONGO_EXPRESS_PREFIX/.complete ]] && echo mongo-express  # installed only where node and npm are
  return 0
}

start_component() {
  local name=$1 site
  case $name in
    kafka | kafka-[0-9]) start_kafka "$name" ;;
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
    mongo-express) start_mongo_express ;;
    zipkin) start_zipkin ;;
    console)  # one process is plenty for a few readers; its broker clients serve one request at a time anyway
      start console "$ROOT/console_site" env WEB_WORKERS=1 "$VENV/bin/gunicorn" console_site.wsgi \
        -c "$ROOT/common/gunicorn.conf.py" --bind "127.0.0.1:$CONSOLE_PORT" ;;
    *) die "unknown component '$name' (see ./manage_all.sh status)" ;;
  esac
}

address_of() {
  case $1 in
    kafka | kafka-[0-9]) echo "127.0.0.1:$(broker_port "$(node_of "$1")")" ;;
    ferretdb) echo "$MONGODB_URI" ;;
    web-*) echo "http://127.0.0.1:$(site_port "${1#web-}")/" ;;
    mongo-express) echo "http://127.0.0.1:$MONGO_EXPRESS_PORT/" ;;
    console) echo "http://127.0.0.1:$CONSOLE_PORT/" ;;
    zipkin) echo "$ZIPKIN_UI_URL" ;;
    *) echo "-" ;;
  esac
}

ports_of() {  # the ports a component listens on
  case $1 in
    kafka | kafka-[0-9]) echo "$(broker_port "$(node_of "$1")") $(controller_port "$(node_of "$1")")" ;;
    ferretdb) echo "$STORE_PORT $STORE_DEBUG_PORT" ;;
    web-*) site_port "${1#web-}" ;;
    mongo-express) echo "$MONGO_EXPRESS_PORT" ;;
    console) echo "$CONSOLE_PORT" ;;
    zipkin) echo "$ZIPKIN_PORT" ;;
  esac
}

# A component that cannot bind its port exits, but the readiness probe would then be answered by whatever holds
# the port (a stack left running after its state folder was removed, another clone at the same offset), and
# everything would run against that. So a port must be free before its component starts.
check_free() {  # component
  local port
  for port in $(ports_of "$1"); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "port $port, where $1 listens, is taken by a process this state folder ($STATE) did not start:" \
        "\`ss -ltnp 'sport = :$port'\` names it. Stop it (a stack of another state folder: ./manage_all.sh down" \
        "with its ORDERPIPE_STATE), or move this stack with ORDERPIPE_PORT_OFFSET."
    fi
  done
}

probe_args() {  # how to tell that a component is ready
  case $1 in
    kafka | kafka-[0-9]) echo "kafka $(address_of "$1")" ;;
    ferretdb) echo "mongo $MONGODB_URI" ;;
    web-*) echo "http http://127.0.0.1:$(site_port "${1#web-}")/ready" ;;
    console) echo "http http://127.0.0.1:$CONSOLE_PORT/ready" ;;
    zipkin) echo "http http://127.0.0.1:$ZIPKIN_PORT/health" ;;
  esac
}

# ---------------------------------------------------------------- commands

use_brokers() {  # remember the Kafka node count; the other kind cannot start on the same ports while one runs
  [[ $BROKERS == 1 || $BROKERS == 3 ]] || die "--brokers takes 1 or 3, not '$BROKERS'"
  local recorded node
  recorded=$(cat "$STATE/brokers" 2>/dev/null || echo 1)
  if [[ $recorded != "$BROKERS" ]]; then
    for node in $(BROKERS=$recorded kafka_nodes); do
      running_pid "$node" >/dev/null && die "$node runs (this state folder has $recorded Kafka node(s)): ./manage_all.sh down first"
    done
  fi
  mkdir -p "$STATE" && echo "$BROKERS" > "$STATE/brokers"
}

cmd_up() {
  local wanted=() c
  while [[ $# -gt 0 ]]; do
    case $1 in
      --consumers) CONSUMERS=$2; shift 2 ;;
      --brokers) shift 2 ;;  # read at the top: the addresses depend on it
      *) wanted+=("$1"); shift ;;
    esac
  done
  check_ports
  use_brokers
  local began=$SECONDS
  setup
  local set_up=$SECONDS
  secret_key
  mkdir -p "$LOGS" "$RUN"
  [[ ${#wanted[@]} -gt 0 ]] || mapfile -t wanted < <(components)
  for c in "${wanted[@]}"; do running_pid "$c" >/dev/null || check_free "$c"; done

  say "Broker and store"
  [[ -n $EXTERNAL_KAFKA ]] || kafka_cluster_files
  # side by side: a new Kafka node first formats its storage, a JVM of its own (over a minute on a busy machine)
  for c in $(kafka_nodes) ferretdb; do [[ " ${wanted[*]} " == *" $c "* ]] && start_component "$c" & done
  wait
  [[ " ${wanted[*]} " == *" ferretdb "* ]] && wait_ready ferretdb $(probe_args ferretdb) --deadline 30
  for c in $(kafka_nodes); do [[ " ${wanted[*]} " == *" $c "* ]] && wait_ready "$c" $(probe_args "$c") --deadline 300; done
  local infra_ready=$SECONDS

  # topics, tables and the admin user only for the sites about to start: `up web-order` in an experiment under
  # load took a minute when it migrated all five
  local starting=()
  for c in "${wanted[@]}"; do [[ $c == web-* ]] && ! running_pid "$c" >/dev/null && starting+=("${c#web-}"); done
  prepare_sites "${starting[@]}"
  say "Sites and consumers"
  for c in "${wanted[@]}"; do is_kafka_node "$c" || [[ $c == ferretdb ]] || start_component "$c"; done
  for c in "${wanted[@]}"; do [[ $c == web-* || $c == console || $c == zipkin ]] && wait_ready "$c" $(probe_args "$c") --deadline 60; done
  cmd_status
  # the README's start-up times come from this line
  echo "Up in $((SECONDS - began)) s: setup $((set_up - began)) s, broker and store $((infra_ready - set_up)) s," \
    "sites and consumers $((SECONDS - infra_ready)) s"
  echo "Logs: $LOGS   (./manage_all.sh logs NAME; one order's lines: logs --order ID)"
  if running_pid console >/dev/null; then echo "Kafka console (read-only): $(address_of console)"; fi
  if running_pid zipkin >/dev/null; then echo "Traces (Zipkin): $ZIPKIN_UI_URL   (search order_id=ID)"; fi
  print_logins
}

print_logins() {  # where a person logs in, and with what: the passwords are generated into the state folder
  if [[ -f $STATE/admin-password ]]; then
    echo "Admin: http://127.0.0.1:$(site_port order)/admin/ and every site's /admin/: user admin," \
      "password $(cat "$STATE/admin-password")   (./manage_all.sh admin-password)"
  fi
  if running_pid mongo-express >/dev/null; then
    echo "Mongo Express: $(address_of mongo-express): user admin, password $(state_secret mongo-express-password)"
  fi
}

cmd_down() {
  local names=() apps=() infra=() name
  [[ $# -gt 0 ]] && names=("$@") || mapfile -t names < <(ls "$RUN" 2>/dev/null | sed -n 's/\.pid$//p')
  for name in "${names[@]}"; do
    case $name in kafka | kafka-[0-9] | ferretdb | zipkin) infra+=("$name") ;; *) apps+=("$name") ;; esac
  done
  # the sites and consumers first (they finish their current event and send its spans), broker, store, Zipkin last
  [[ ${#apps[@]} -eq 0 ]] || stop "${apps[@]}"
  [[ ${#infra[@]} -eq 0 ]] || stop "${infra[@]}"
}

cmd_status() {
  local c pid ready all=()
  mapfile -t all < <({ components; ls "$RUN" 2>/dev/null | sed -n 's/\.pid$//p'; } | awk '!seen[$0]++')
  printf '%-24s %-8s %-8s %-6s %s\n' COMPONENT STATE PID READY ADDRESS
  for c in "${all[@]}"; do
    if pid=$(running_pid "$c"); then
      ready=-
      if [[ -n $(probe_args "$c") ]]; then
        ready=no; "$PY" "$ROOT/infra/probe.py" $(probe_args "$c") --deadline 0 2>/dev/null && ready=yes
      fi
      printf '%-24s %-8s %-8s %-6s %s\n' "$c" running "$pid" "$ready" "$(address_of "$c")"
    else
      printf '%-24s %-8s %-8s %-6s %s\n' "$c" stopped - - "$(address_of "$c")"
    fi
  done
  # a cluster of our own: which node is the active controller, who leads what, what is under-replicated
  [[ -z $EXTERNAL_KAFKA && $BROKERS != 1 ]] && "$PY" "$ROOT/infra/kafka_status.py" "$KAFKA_BOOTSTRAP_SERVERS"
  [[ -n $EXTERNAL_KAFKA ]] && echo "broker: external, $KAFKA_BOOTSTRAP_SERVERS"
  [[ -n $EXTERNAL_STORE ]] && echo "store: external, $MONGODB_URI"
  return 0
}

cmd_logs() {
  if [[ $# -eq 0 ]]; then ls -1 "$LOGS" 2>/dev/null | sed 's/\.log$//'; return; fi
  if [[ $1 == --order ]]; then "$PY" "$ROOT/infra/logs.py" "$LOGS" "$@"; return; fi
  tail -n 100 -F "$LOGS/$1.log"
}

cmd_test() {
  check_ports  # before the installs and builds below, not after them (cmd_up checks again)
  # the stuck-order tests wait this long instead of a minute
  export ORDER_STUCK_AFTER_SECONDS=${ORDER_STUCK_AFTER_SECONDS:-5}
  export ORDERPIPE_WRITE_HOLDS=true  # tests/faults/test_zombie.py freezes a consumer at a write (common/mongo.py)
  # spans reach Zipkin within a second instead of five, so the trace tests wait less
  export OTEL_BSP_SCHEDULE_DELAY=${OTEL_BSP_SCHEDULE_DELAY:-1000}
  setup_chromium  # tests/browser
  [[ -n $EXTERNAL_STORE ]] || build_ferretdb "$FERRETDB_UPSTREAM_BIN"  # tests/infra/test_store_differential.py
  export ORDERPIPE_FERRETDB_BIN=$FERRETDB_BIN ORDERPIPE_FERRETDB_UPSTREAM_BIN=$FERRETDB_UPSTREAM_BIN
  build_compose_check && export ORDERPIPE_COMPOSE_CHECK_BIN=$COMPOSE_CHECK_BIN  # tests/infra/test_compose.py
  cmd_up
  local status=0
  (cd "$ROOT" && "$PY" -m pytest "$@") || status=$?
  [[ -n ${ORDERPIPE_KEEP_TEST_STACK:-} ]] || cmd_down
  [[ $status -eq 5 ]] && die "pytest collected no tests"
  if [[ $# -eq 0 ]]; then  # the whole suite: the three-broker tests too, once the test stack has freed the CPU
    (cd "$ROOT" && "$PY" -m pytest -m cluster tests/cluster) || status=$?
  fi
  return $status
}

cmd_demo() {
  "$PY" "$ROOT/infra/demo.py" "http://127.0.0.1:$(site_port order)"
}

cmd_screenshots() {
  setup_chromium
  "$PY" "$ROOT/infra/screenshots.py" --order-site "http://127.0.0.1:$(site_port order)" \
    --console "http://127.0.0.1:$CONSOLE_PORT" --zipkin "$ZIPKIN_UI_URL" "$@"
}

cmd_bench() {
  if [[ ${1:-} == --idle ]]; then shift; (cd "$ROOT" && "$PY" -m bench.idle --run-dir "$RUN" "$@"); return; fi
  secret_key  # the bench reads the project's producer settings through the order site's Django settings
  if [[ ${1:-} == --pages ]]; then shift; (cd "$ROOT" && DJANGO_SETTINGS_MODULE=order_site.settings \
    PYTHONPATH="$ROOT/order_site:$ROOT" "$PY" -m bench.pages --run-dir "$RUN" "$@"); return; fi  # sites: port offset
  if [[ ${1:-} == --store-mix ]]; then
    shift
    if [[ $# -eq 0 || $1 == -* ]]; then  # no binaries named: the project's build, and upstream's once `test` built it
      [[ -x $FERRETDB_BIN ]] || die "no FerretDB build yet: \`./manage_all.sh setup\` makes it"
      if [[ -x $FERRETDB_UPSTREAM_BIN ]]; then set -- "$FERRETDB_UPSTREAM_BIN" "$FERRETDB_BIN" "$@"
      else set -- "$FERRETDB_BIN" "$@"; fi
    fi
    (cd "$ROOT" && DJANGO_SETTINGS_MODULE=order_site.settings PYTHONPATH="$ROOT/order_site:$ROOT" "$PY" \
      -m bench.store_mix --work-dir "$STATE/store-mix" "$@"); return
  fi
  (cd "$ROOT" && DJANGO_SETTINGS_MODULE=order_site.settings PYTHONPATH="$ROOT/order_site:$ROOT" "$PY" -m bench.bench \
    --order-site "http://127.0.0.1:$(site_port order)" --inventory-site "http://127.0.0.1:$(site_port inventory)" \
    --run-dir "$RUN" "$@")
}

cmd_experiment() {
  secret_key  # the experiments read what each site did through the sites' own store modules
  local path=$ROOT s
  for s in $(existing_sites); do path=$(site_dir "$s"):$path; done
  (cd "$ROOT" && DJANGO_SETTINGS_MODULE=order_site.settings PYTHONPATH="$path" "$PY" -m infra.experiments "$@")
}

case ${1:-help} in
  setup) setup ;;
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  status) cmd_status ;;
  logs) shift; cmd_logs "$@" ;;
  admin-password) [[ -f $STATE/admin-password ]] || die "no admin password yet: \`./manage_all.sh up\` makes it"
    cat "$STATE/admin-password" ;;
  test) shift; cmd_test "$@" ;;
  demo) cmd_demo ;;
  bench) shift; cmd_bench "$@" ;;
  screenshots) shift; cmd_screenshots "$@" ;;
  experiment) shift; cmd_experiment "$@" ;;
  manage) shift; [[ $# -ge 1 ]] || die "usage: ./manage_all.sh manage SITE ARGS…"; secret_key; manage "$@" ;;
  *) sed -n '2,/manage_all.sh setup /p' "$0" | sed 's/^# \{0,1\}//'; [[ ${1:-help} == help || $1 == -h || $1 == --help ]] ;;
esac
