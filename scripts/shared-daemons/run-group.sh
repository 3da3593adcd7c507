#!/bin/bash
# Daemon-level prequential accuracy on the projected shared stream (D = 64), 4 partitions:
#   run-group.sh NAME MODE MEMBERS EVERY [KALMAN-YAML-LINES]
# MODE: single | per-partition | shared; EVERY: checkpoint.everyEvents (the shared model's merge interval).
set -u
NAME=$1; MODE=$2; MEMBERS=$3; EVERY=$4; EXTRA=${5:-}
S=${STREAM_DIR:-/tmp/shared-daemons}; B=${STREAMADAPT:-.build/release/streamadapt}; W="$S/run-$NAME"; rm -rf "$W"; mkdir -p "$W"
PORT=$((20000 + RANDOM % 20000))
$B broker --port $PORT --partitions 4 --topics embeddings,preds,alerts,dead,state > $W/broker.log 2>&1 &
BROKER=$!
for i in $(seq 1 50); do kcat -b 127.0.0.1:$PORT -L >/dev/null 2>&1 && break; sleep 0.2; done
GROUP=""; [ "$MODE" != single ] && GROUP="group: g-$NAME"
cat > $W/p.yaml <<YAML
name: sd-$NAME
$GROUP
kafka:
  properties:
    session.timeout.ms: "6000"
    heartbeat.interval.ms: "500"
topics:
  input: embeddings
  predictions: preds
  alerts: alerts
  deadLetter: dead
  state: state
model:
  classes: $S/data
  head: kalman
  mode: $MODE
$EXTRA
checkpoint:
  everyEvents: $EVERY
  everySeconds: 1000
metrics:
  port: 0
YAML
[ "$MODE" = single ] && sed -i 's/^checkpoint:$/checkpoint:\n  directory: '"${W//\//\\/}"'\/ck/' $W/p.yaml
PIDS=""
for m in $(seq 1 $MEMBERS); do
  OPENBLAS_NUM_THREADS=1 $B run --pipeline $W/p.yaml --bootstrap 127.0.0.1:$PORT > $W/d$m.log 2>&1 &
  PIDS="$PIDS $!"
  if [ "$MODE" != single ]; then
    for i in $(seq 1 100); do grep -q "partition assigned" $W/d$m.log && break; sleep 0.2; done
  else
    sleep 2
  fi
done
if [ "$MEMBERS" -gt 1 ]; then
  for i in $(seq 1 100); do [ $(grep -c "partition assigned" $W/d$MEMBERS.log) -ge 2 ] && break; sleep 0.2; done
  sleep 1
fi
# Produce in global order, 25 events per partition per chunk (event i to partition i mod 4).
for c in $(seq 0 59); do
  for p in 0 1 2 3; do
    sed -n "$((c * 25 + 1)),$((c * 25 + 25))p" $S/p$p.txt | kcat -b 127.0.0.1:$PORT -P -t embeddings -p $p -K'|' 2>/dev/null
  done
done
for i in $(seq 1 300); do
  N=$(kcat -b 127.0.0.1:$PORT -C -t preds -o beginning -e -q -f '%k\n' 2>/dev/null | sort -u | wc -l)
  [ "$N" -ge 6000 ] && break; sleep 1
done
kill -TERM $PIDS; wait $PIDS 2>/dev/null
kcat -b 127.0.0.1:$PORT -C -t preds -o beginning -e -q -f '%k\t%s\n' > $W/preds.tsv 2>/dev/null
kill $BROKER; wait $BROKER 2>/dev/null
python3 - $W/preds.tsv $S/truth.json "$NAME" <<'PY'
import sys, json
truth = json.load(open(sys.argv[2]))["labels"]
seen = {}
for line in open(sys.argv[1]):
    k, v = line.rstrip("\n").split("\t", 1)
    if k not in seen: seen[k] = json.loads(v)["label"]
ok = [seen[f"e{i}"] == truth[i] for i in range(6000) if f"e{i}" in seen]
if len(seen) < 6000: print(f"warning: only {len(seen)} of 6000 events predicted before the wait ended", file=sys.stderr)
print(f"{sys.argv[3]}: {len(seen)} predicted, prequential accuracy {sum(ok)/len(ok):.4f} (clean {sum(ok[:3000])/3000:.4f}, corrupted {sum(ok[3000:])/max(1,len(ok)-3000):.4f})")
PY
