#!/bin/bash
set -e
cd /work/wt-trial
export CARGO_TARGET_DIR=$HOME/.cache/ivschat-server/target-trial NOISY=0 RUNS=1 PLOTS=0
OLD=/work/wt-trial/bench/results/targets-final/fanout/bin/ivschat-server
NEW=/tmp/exp/ivschat-server-shardrt
for i in 1 2 3; do
  SERVERS="ivschat floor" SERVER_BIN=$OLD OUT=/tmp/exp/base-$i bash bench/run-compare.sh fanout
  IVSCHAT_SHARD_THREADS=2 SERVERS=ivschat SERVER_BIN=$NEW OUT=/tmp/exp/rt2-$i bash bench/run-compare.sh fanout
  IVSCHAT_SHARD_THREADS=1 SERVERS=ivschat SERVER_BIN=$NEW OUT=/tmp/exp/rt1-$i bash bench/run-compare.sh fanout
done
echo DONE
