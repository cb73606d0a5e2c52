#!/bin/sh
# Conformance of pkg/textparse with the real Prometheus scrape path.
#
#   scrape_conformance.sh SCRAPE_CHECK_BIN
#
# Writes ~60 small exposition payloads full of edge cases (text format 0.0.4
# as *.txt, OpenMetrics as *.om), serves them on 127.0.0.1 (scrape_check
# serve, with the right Content-Type), lets Debian's prometheus scrape each
# one as its own job, and checks for every payload that our parser accepts it
# exactly when Prometheus marks the target up (a parse error marks it down).
# The one deliberate difference, NUL bytes (Prometheus keeps them in label
# values, we reject them), is not among the cases.
set -u
check=$1
command -v prometheus >/dev/null 2>&1 || { echo "prometheus not installed" >&2; exit 1; }
command -v curl >/dev/null 2>&1 || { echo "curl not installed" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/scrape_conf.XXXXXX")
srv=""
prom=""
cleanup() {
    [ -n "$prom" ] && kill "$prom" 2>/dev/null && wait "$prom" 2>/dev/null
    [ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
mkdir "$tmp/www"
c() { printf '%b' "$2" > "$tmp/www/$1"; }

# ---- Prometheus text format 0.0.4
c helpnotext.txt '# HELP a\na 1\n'
c typenotext.txt '# TYPE a\na 1\n'
c typetrail.txt '# TYPE a gauge \na 1\n'
c typemulti.txt '# TYPE a  gauge\na 1\n'
c typetab.txt '# TYPE a\tgauge\na 1\n'
c helptab.txt '# HELP\ta x\na 1\n'
c helpspaces.txt '# HELP a   x\na 1\n'
c helpesc.txt '# HELP a x\\"y \\\\ \\n\n# TYPE a gauge\na 1\n'
c helpbadutf.txt '# HELP a \377\na 1\n'
c hashnospace.txt '#HELP a x\na 1\n'
c onlycomment.txt '# hi\n'
c wscomment.txt '  # hi\na 1\n'
c eofcomment.txt '# EOF\na 1\n'
c empty.txt ''
c wsline.txt 'a 1\n   \nb 1\n'
c tabline.txt 'a 1\n\t\nb 1\n'
c leadws.txt '   a 1\n'
c trailws.txt 'a 1 1   \n'
c tabs.txt 'a\t1\n'
c nonl.txt 'a 1'
c crlf.txt 'a 1\r\n'
c trailcomma.txt 'a{x="1" , } 1\n'
c doublecomma.txt 'a{x="1",,y="2"} 1\n'
c spacebrace.txt 'a {x="1"} 1\n'
c spaceafterbrace.txt 'a{ x="1"} 1\n'
c lvalspace.txt 'a{x = "1"} 1\n'
c nospaceval.txt 'a{x="1"}1\n'
c emptybrace.txt 'a{} 1\n'
c quotedname.txt '{"a"} 1\n'
c colonlabel.txt 'a{b:c="1"} 1\n'
c colonname.txt 'a:b:c 1\n'
c digitname.txt '1a 1\n'
c namelabel.txt 'a{__name__="b"} 1\n'
c dup.txt 'a{x="1",x="2"} 1\n'
c badutf.txt 'a{x="\377"} 1\n'
c goodutf.txt 'a{x="\303\251"} 1\n'
c badesc.txt 'a{x="a\\tb"} 1\n'
c escapes.txt 'a{x="a\\\\b\\"c\\nd"} 1\n'
c unterminated.txt 'a{x="1} 1\n'
c infs.txt 'a Inf\nb inf\nc infinity\nd -Infinity\ne +Inf\n'
c nan.txt 'a NaN\nb nan\n'
c plusnan.txt 'a +NaN\n'
c hexval.txt 'a 0x10\n'
c underscore.txt 'a 1_000\n'
c expnodigit.txt 'a 1e\n'
c dotfive.txt 'a .5\nb 5.\nc -0\nd 1E3\n'
c novalue.txt 'a\n'
c floatts.txt 'a 1 1.5\n'
c negts.txt 'a 1 -5\n'
c plusts.txt 'a 1 +5\n'
c trailgarbage.txt 'a 1 2 3\n'
c badtype.txt '# TYPE a gaugehistogram\na 1\n'

# ---- OpenMetrics 1.0
c ok.om '# TYPE a counter\n# HELP a x\na_total 1\na_created 1\n# EOF\n'
c noeof.om 'a 1\n'
c exemplar.om '# TYPE a counter\na_total 1 # {t="x"} 1\n# EOF\n'
c exemplarbad.om 'a 1 # {t="x"} 1\n# EOF\n'
c blank.om 'a 1\n\n# EOF\n'
c comment.om '# hi\na 1\n# EOF\n'
c unitok.om '# TYPE a_seconds gauge\n# UNIT a_seconds seconds\na_seconds 1\n# EOF\n'
c unitbad.om '# UNIT a_seconds bytes\na_seconds 1\n# EOF\n'
c trailspace.om 'a 1 \n# EOF\n'
c after.om 'a 1\n# EOF\nb 1\n'
c trailcomma.om 'a{x="1",} 1\n# EOF\n'
c untyped.om '# TYPE a untyped\na 1\n# EOF\n'
c info.om '# TYPE a info\na_info{v="1"} 1\n# EOF\n'
c doublespace.om 'a  1\n# EOF\n'
c escapes.om 'a{x="a\\\\b\\"c\\nd"} 1\n# EOF\n'
c dup.om 'a{x="1",x="2"} 1\n# EOF\n'
c histogram.om '# TYPE h histogram\nh_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1.5\nh_count 2\n# EOF\n'
c eofonly.om '# EOF\n'
c nonlafter.om 'a 1\n# EOF'

# ---- our answers
ncases=0
for f in "$tmp"/www/*; do
    n=$(basename "$f")
    case $n in *.om) fmt=openmetrics ;; *) fmt=promtext ;; esac
    if "$check" parse "$fmt" "$f" > "$tmp/$n.ours" 2>&1; then echo up > "$tmp/$n.want"; else echo down > "$tmp/$n.want"; fi
    ncases=$((ncases + 1))
done

# ---- Prometheus' answers
"$check" serve "$tmp/www" "$tmp/port" 60 &
srv=$!
for i in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port=$(cat "$tmp/port")
{
    echo "global: {scrape_interval: 1s, scrape_timeout: 1s}"
    echo "scrape_configs:"
    for f in "$tmp"/www/*; do
        n=$(basename "$f")
        echo "  - job_name: '$n'"
        echo "    metrics_path: '/$n'"
        echo "    static_configs: [{targets: ['127.0.0.1:$port']}]"
    done
} > "$tmp/prom.yml"
pport=$("$check" freeport)
prometheus --config.file="$tmp/prom.yml" --storage.tsdb.path="$tmp/data" \
    --web.listen-address="127.0.0.1:$pport" > "$tmp/prom.log" 2>&1 &
prom=$!
# wait until every target has been scraped at least once (bounded)
done_=0
for i in $(seq 60); do
    sleep 0.5
    curl -sf "http://127.0.0.1:$pport/api/v1/targets" > "$tmp/targets.json" 2>/dev/null || continue
    scraped=$(grep -o '"lastScrape":"[^"]*"' "$tmp/targets.json" | grep -vc '"0001-01-01')
    if [ "$scraped" -ge "$ncases" ]; then done_=1; break; fi
done
if [ $done_ = 0 ]; then
    echo "FAIL: prometheus did not scrape all $ncases targets"; tail -5 "$tmp/prom.log"; exit 1
fi
sleep 1.5 # one more round, so every target has its settled health
curl -sf "http://127.0.0.1:$pport/api/v1/targets" > "$tmp/targets.json"

pass=0
fail=0
for f in "$tmp"/www/*; do
    n=$(basename "$f")
    # the target object of job n: its "health" and "lastError"
    obj=$(tr -d '\n' < "$tmp/targets.json" | sed 's/},{"discoveredLabels"/}\n{"discoveredLabels"/g' |
        grep "\"job\":\"$n\"" | head -n 1)
    health=$(printf '%s' "$obj" | grep -o '"health":"[a-z]*"' | head -n 1 | cut -d'"' -f4)
    perr=$(printf '%s' "$obj" | grep -o '"lastError":"\([^"\\]\|\\.\)*"' | head -n 1 |
        sed 's/^"lastError":"//; s/"$//')
    want=$(cat "$tmp/$n.want")
    ours=$(cat "$tmp/$n.ours")
    if [ "$health" = "$want" ]; then
        pass=$((pass + 1))
        printf 'ok: %s: both %s (ours: %s | prometheus: %s)\n' "$n" "$want" "$ours" "$perr"
    else
        fail=$((fail + 1))
        printf 'FAIL: %s: prometheus %s (%s), ours %s (%s)\n' "$n" "$health" "$perr" "$want" "$ours"
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -ge 60 ]
