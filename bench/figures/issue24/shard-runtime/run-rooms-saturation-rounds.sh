#!/bin/bash
set -e
cd /work/wt-trial
export CARGO_TARGET_DIR=$HOME/.cache/ivschat-server/target-trial NOISY=0 RUNS=1 PLOTS=0
OLD=/work/wt-trial/bench/results/targets-final/fanout/bin/ivschat-server
NEW=/tmp/exp/ivschat-server-shardrt
for i in 1 2 3; do
  SERVERS="ivschat floor" SERVER_BIN=$OLD OUT=/tmp/exp/rooms-base-$i bash bench/run-compare.sh rooms
  IVSCHAT_SHARD_THREADS=1 SERVERS=ivschat SERVER_BIN=$NEW OUT=/tmp/exp/rooms-rt1-$i bash bench/run-compare.sh rooms
done
for i in 1 2; do
  SIZES=19000 SERVERS="ivschat floor" SERVER_BIN=$OLD OUT=/tmp/exp/sat-base-$i bash bench/run-compare.sh saturation
  SIZES=19000 IVSCHAT_SHARD_THREADS=1 SERVERS=ivschat SERVER_BIN=$NEW OUT=/tmp/exp/sat-rt1-$i bash bench/run-compare.sh saturation
done
echo DONE
