#!/bin/sh
# A worker for the compound-restart example: a "server" that takes DELAY seconds
# (default 0.3) to start, then announces it is ready by creating READY (as a server would
# create its socket), then serves (sleeps) until it is killed.
#
# Run: /bin/sh examples/workers/slow_server.sh READY [DELAY]
set -eu
ready="$1"
sleep "${2:-0.3}"
: >"$ready"
exec sleep 1000
