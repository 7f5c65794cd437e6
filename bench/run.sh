#!/usr/bin/env bash
# run.sh — wsd against gorilla, coder, gws and gobwas, side by side, with
# floor (bench/cmd/floor) as the yardstick of what any Go server costs here.
#
#   bench/run.sh [--quick] [--rounds N] [--cases LIST] [--servers LIST] [--base REV]
#
# --cases and --servers pick a comma-separated subset (cases: echo, idle,
# churn, broadcast; servers: wsd, gorilla, coder, gws, gws-http, gobwas,
# gobwas-http, floor); gorilla, the reference, is always measured. --base
# REV also builds wsd from git revision REV and measures it as server
# wsd-base beside the working tree's wsd: an interleaved A/B of a change.
#
# Each peer is in its fastest idiomatic form (bench/README.md): gws and
# gobwas on their own raw listeners (gws.NewServer; gobwas's zero-copy
# ws.Upgrader and frame-level echo); gws-http and gobwas-http are the same
# libraries through net/http (gobwas-http with its wsutil convenience
# reads), kept for comparison.
#
# Each scenario runs against every server, interleaved (A B C ..., the order
# rotated every round), for 3 rounds unless --rounds says otherwise, each
# server in a fresh process on loopback. The load comes from `wsctl bench --pid`, which reads
# the server's CPU time from /proc/PID/stat and RSS from /proc/PID/status
# over the measured phase only (connections open). wsd runs with session
# recording on (its default) and tracing off (no OTEL_* variables).
# The table gives each server's figure divided by gorilla's in the same
# round: the median ratio and its min-max spread over the rounds. Its last
# two columns name the best peer of each row (the peer, floor aside, with
# the lowest median ratio) and give wsd's figure divided by that peer's in
# the same round, median [min-max].
# Manual, not part of CI. Full mode takes about 19 minutes, --quick about 7.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
	echo "usage: $0 [--quick] [--rounds N] [--cases echo,idle,churn,broadcast] [--servers wsd,gorilla,gws,gobwas,...] [--base REV]" >&2
	exit 2
}
QUICK=0
ROUNDS=3
CASES="echo idle churn broadcast"
# floor is a yardstick, not a peer: the least a Go server can do per
# connection (bench/cmd/floor).
SERVERS="wsd gorilla coder gws gws-http gobwas gobwas-http floor"
BASE=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--rounds|--cases|--servers|--base)
		[ $# -ge 2 ] || usage
		case "$1" in
		--rounds) ROUNDS="$2" ;;
		--cases) CASES="${2//,/ }" ;;
		--servers) SERVERS="${2//,/ }" ;;
		--base) BASE="$2" ;;
		esac
		shift ;;
	*) usage ;;
	esac
	shift
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --rounds: want a positive number, got '$ROUNDS'" >&2; exit 2; }
for c in $CASES; do
	case "$c" in echo|idle|churn|broadcast) ;; *) echo "run.sh: unknown case '$c' (echo, idle, churn, broadcast)" >&2; exit 2 ;; esac
done
for s in $SERVERS; do
	case "$s" in wsd|gorilla|coder|gws|gws-http|gobwas|gobwas-http|floor) ;; *) echo "run.sh: unknown server '$s' (wsd, gorilla, coder, gws, gws-http, gobwas, gobwas-http, floor)" >&2; exit 2 ;; esac
done
[[ " $SERVERS " == *" gorilla "* ]] || SERVERS="$SERVERS gorilla"
if [ -n "$BASE" ]; then
	git rev-parse --verify --quiet "$BASE^{commit}" >/dev/null || { echo "run.sh: --base: '$BASE' is not a commit" >&2; exit 2; }
	with=""
	for s in $SERVERS; do
		with="$with $s"
		if [ "$s" = wsd ]; then with="$with wsd-base"; fi
	done
	[[ " $with " == *" wsd-base "* ]] || with="wsd-base$with"
	SERVERS="${with# }"
fi
wants() { [[ " $CASES " == *" $1 "* ]]; }

if [ "$QUICK" = 1 ]; then
	D=2s; IDLE=5000; BCAST=2000; HOLD=3s
	ECHO_CASES="64:1024"
else
	D=4s; IDLE=10000; BCAST=10000; HOLD=4s
	ECHO_CASES="1:32 1:1024 1:65536 64:32 64:1024 64:65536"
fi
WORK=$(mktemp -d)
BIN=$WORK/bin
mkdir -p "$BIN"
SRV_PID=""
cleanup() {
	if [ -n "$SRV_PID" ]; then kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT

echo "building into $BIN" >&2
go build -o "$BIN/wsd" ./cmd/wsd
if [ -n "$BASE" ]; then
	echo "building wsd-base from $BASE ($(git rev-parse --short "$BASE^{commit}"))" >&2
	mkdir -p "$WORK/base"
	git archive "$BASE^{commit}" | tar -x -C "$WORK/base"
	(cd "$WORK/base" && go build -o "$BIN/wsd-base" ./cmd/wsd)
fi
CGO_ENABLED=0 go build -o "$BIN/wsctl" ./cmd/wsctl
(cd bench && go build -o "$BIN/" ./cmd/...)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# start SERVER: sets SRV_PID, WS_URL and TRIGGER (an admin token for wsd).
start() {
	local s=$1
	local out=$WORK/$s.out
	: >"$out"
	if [ "$s" = wsd ] || [ "$s" = wsd-base ]; then
		local st=$WORK/state
		rm -rf "$st"; mkdir -p "$st"
		"$BIN/$s" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --state-dir "$st" --log-format json \
			--log-level info --handshake-rate 0 --max-connections 30000 --max-connections-per-ip 0 \
			2>"$out" &
		SRV_PID=$!
		local line=""
		for _ in $(seq 100); do
			line=$(grep -m1 '"msg":"listening"' "$out" || true)
			[ -n "$line" ] && break
			sleep 0.1
		done
		[ -n "$line" ] || { echo "wsd did not start:" >&2; cat "$out" >&2; exit 1; }
		WS_URL="ws://$(sed -E 's/.*"addr":"([^"]+)".*/\1/' <<<"$line")/"
		export WSCTL_SERVER="http://$(sed -E 's/.*"admin":"([^"]+)".*/\1/' <<<"$line")"
		export WSCTL_TOKEN
		WSCTL_TOKEN=$("$BIN/$s" token create --subject bench --scope admin --ttl 1h --state-dir "$st")
		TRIGGER=""
	else
		"$BIN/$s" >"$out" &
		SRV_PID=$!
		# A peer prints its address, then its broadcast URL (floor only
		# the address: its broadcast is on the same port).
		for _ in $(seq 100); do [ -s "$out" ] && [ "$(wc -l <"$out")" -ge 2 -o "$s" = floor ] && break; sleep 0.1; done
		local addr trig; addr=$(sed -n 1p "$out"); trig=$(sed -n 2p "$out")
		WS_URL="ws://$addr/"
		TRIGGER="--trigger ${trig:-http://$addr/broadcast}"
	fi
	# Warm up pools and the runtime.
	"$BIN/wsctl" bench "$WS_URL" echo -c 4 -n 200 -o json >/dev/null
}

stop() {
	kill "$SRV_PID" 2>/dev/null || true
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=""
}

# field JSON NAME: a number from wsctl bench -o json.
field() { sed -nE "s/^ *\"$2\": ([0-9.e+-]+),?$/\1/p" "$1" | head -1; }

RESULTS=$WORK/results.tsv   # round case server metric value
: >"$RESULTS"

# measure ROUND CASE SERVER ARGS...: one run; records metrics.
measure() {
	local round=$1 case=$2 s=$3; shift 3
	start "$s"
	local extra=""
	[ "$1" = broadcast ] && extra=$TRIGGER
	local j=$WORK/run.json
	# shellcheck disable=SC2086
	if ! "$BIN/wsctl" bench "$WS_URL" "$@" $extra --pid "$SRV_PID" -o json >"$j" 2>"$WORK/err"; then
		echo "  $case $s: FAILED: $(cat "$WORK/err")" >&2
		stop; return
	fi
	stop
	local cpu p99 rss rate
	cpu=$(field "$j" server_cpu_per_op_us); p99=$(field "$j" p99_ms); rate=$(field "$j" rate_per_s)
	rss=$(field "$j" server_rss_per_conn_bytes)
	printf '%s\t%s\t%s\tcpu\t%s\n' "$round" "$case" "$s" "$cpu" >>"$RESULTS"
	printf '%s\t%s\t%s\tp99\t%s\n' "$round" "$case" "$s" "$p99" >>"$RESULTS"
	[ -n "$rss" ] && printf '%s\t%s\t%s\trss\t%s\n' "$round" "$case" "$s" "$rss" >>"$RESULTS"
	echo "  round $round $case $s: cpu/op ${cpu}µs p99 ${p99}ms rate ${rate}/s ${rss:+rss/conn ${rss}B}" >&2
}

T0=$(date +%s)
set -- $SERVERS
ORDER=("$@")
for round in $(seq "$ROUNDS"); do
	# Rotate the order each round.
	n=${#ORDER[@]}; k=$(( (round - 1) % n ))
	order=("${ORDER[@]:k}" "${ORDER[@]:0:k}")
	if wants echo; then
		for ec in $ECHO_CASES; do
			c=${ec%%:*}; size=${ec##*:}
			for s in "${order[@]}"; do measure "$round" "echo-${c}x${size}" "$s" echo -c "$c" --size "$size" -d "$D"; done
		done
	fi
	if wants idle; then
		for s in "${order[@]}"; do measure "$round" "idle-$IDLE" "$s" idle -c "$IDLE" -d "$HOLD" --dial-concurrency 64; done
	fi
	if wants churn; then
		for s in "${order[@]}"; do measure "$round" churn "$s" churn -c 8 -d "$D"; done
	fi
	if wants broadcast; then
		for s in "${order[@]}"; do measure "$round" "broadcast-$BCAST" "$s" broadcast -c "$BCAST" --size 64 -n 20 --dial-concurrency 64; done
	fi
done
echo "measured in $(( $(date +%s) - T0 ))s on $(nproc) cores, $(uname -sr), $(go env GOVERSION)" >&2

# table REF SERVERS [BEST]: per case and server, the figure divided by
# REF's in the same round; median [min-max] over the rounds; REF's own
# median in absolute units. With BEST=1, two more columns: the best peer
# of the row (lowest median ratio; wsd, wsd-base and floor are not peers)
# and wsd's figure divided by that peer's in the same round.
table() {
	awk -F'\t' -v ref="$1" -v servers="$2" -v best="${3:-0}" '
{ v[$2 SUBSEP $3 SUBSEP $4 SUBSEP $1] = $5; cases[$2] = 1; rounds[$1] = 1; metrics[$2 SUBSEP $4] = 1 }
function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } }
# ratios C M A B: fills r with A/B per round; returns how many.
function ratios(c, m, a, b,   rd, g, x, n) {
	n = 0; delete r
	for (rd in rounds) {
		g = v[c SUBSEP b SUBSEP m SUBSEP rd]; x = v[c SUBSEP a SUBSEP m SUBSEP rd]
		if (g != "" && g + 0 > 0 && x != "") r[++n] = x / g
	}
	sort(r, n)
	return n
}
END {
	ns = split(servers, sv, " ")
	haswsd = 0; for (i = 1; i <= ns; i++) if (sv[i] == "wsd") haswsd = 1
	if (!haswsd) best = 0
	unit["cpu"] = "server CPU/op"; unit["p99"] = "p99 latency"; unit["rss"] = "RSS/conn"
	abs["cpu"] = "us"; abs["p99"] = "ms"; abs["rss"] = "B"
	printf "| case | metric |"; for (i = 1; i <= ns; i++) printf " %s |", sv[i]
	if (best) printf " best peer | wsd ÷ best |"
	printf "\n"
	printf "|---|---|"; for (i = 1; i <= ns; i++) printf "---|"
	if (best) printf "---|---|"
	printf "\n"
	nc = 0; for (c in cases) cl[++nc] = c
	for (i = 2; i <= nc; i++) for (j = i; j > 1 && cl[j-1] > cl[j]; j--) { t = cl[j]; cl[j] = cl[j-1]; cl[j-1] = t }
	split("cpu rss p99", ml, " ")
	for (ci = 1; ci <= nc; ci++) for (mi = 1; mi <= 3; mi++) {
		c = cl[ci]; m = ml[mi]
		if (!((c SUBSEP m) in metrics)) continue
		if (m == "p99" && c !~ /^echo-64/ && c !~ /^broadcast/) continue
		printf "| %s | %s |", c, unit[m]
		bs = ""; bm = 0
		for (i = 1; i <= ns; i++) {
			s = sv[i]
			if (s == ref) {
				n = 0; delete r
				for (rd in rounds) { x = v[c SUBSEP s SUBSEP m SUBSEP rd]; if (x != "") r[++n] = x }
				sort(r, n)
			} else n = ratios(c, m, s, ref)
			if (n == 0) { printf " - |"; continue }
			med = r[int((n + 1) / 2)]
			if (s == ref) printf " %.3g %s |", med, abs[m]
			else printf " %.2f [%.2f-%.2f] |", med, r[1], r[n]
			if (s != "wsd" && s != "wsd-base" && s != "floor") {
				rel = (s == ref) ? 1 : med
				if (bs == "" || rel < bm) { bs = s; bm = rel }
			}
		}
		if (best) {
			n = (bs == "") ? 0 : ratios(c, m, "wsd", bs)
			if (n == 0) printf " %s | - |", (bs == "" ? "-" : bs)
			else printf " %s | %.2f [%.2f-%.2f] |", bs, r[int((n + 1) / 2)], r[1], r[n]
		}
		printf "\n"
	}
}' "$RESULTS"
}

table gorilla "$SERVERS" 1
if [ -n "$BASE" ] && [[ " $SERVERS " == *" wsd "* ]]; then
	printf '\nwsd divided by wsd-base (%s) in the same round:\n\n' "$BASE"
	table wsd-base "wsd-base wsd"
fi

