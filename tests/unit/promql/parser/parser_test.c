/*
 * Tests for pkg/promql/parser.
 *
 * The golden tables below were produced by the real Prometheus 2.42 (Debian's prometheus
 * package): each query was sent to /api/v1/format_query of a local server and its answer
 * recorded, the printed form for valid queries and the error text (without the API's
 * `invalid parameter "query": ` prefix) for invalid ones.  The test checks that we print and
 * reject exactly the same way, and that printing is a fixed point (parse(print(e)) prints the
 * same).
 */
#include "pkg/promql/parser/ast.h"
#include "tests/testutil/t.h"

#include "pkg/util/mem.h"

struct golden {
    const char *query;
    bool ok;
    const char *want; /* printed form, or error message */
};

static const struct golden valid_cases[] = {
    {"1", true, "1"},
    {"1.5", true, "1.5"},
    {".5", true, "0.5"},
    {"5.", true, "5"},
    {"017", true, "15"},
    {"08", true, "8"},
    {"0x1F", true, "31"},
    {"0X1f", true, "31"},
    {"1e3", true, "1000"},
    {"1E-3", true, "0.001"},
    {"1.5e3", true, "1500"},
    {"1e100", true, "1e+100"},
    {"1e-7", true, "1e-07"},
    {"123456", true, "123456"},
    {"1234567", true, "1.234567e+06"},
    {"123456789012", true, "1.23456789012e+11"},
    {"0.0001", true, "0.0001"},
    {"0.00001", true, "1e-05"},
    {"Inf", true, "+Inf"},
    {"inf", true, "+Inf"},
    {"-Inf", true, "-Inf"},
    {"NaN", true, "NaN"},
    {"-nan", true, "NaN"},
    {"+1", true, "1"},
    {"-1", true, "-1"},
    {"- 1", true, "-1"},
    {"+-1", true, "-1"},
    {"- - 1", true, "1"},
    {"-(1)", true, "-(1)"},
    {"\"a\"", true, "\"a\""},
    {"'a'", true, "\"a\""},
    {"`a\\n`", true, "\"a\\\\n\""},
    {"\"\\u00e9\\101\\x41\\n\\t\\\\\\\"\"", true, "\"\303\251AA\\n\\t\\\\\\\"\""},
    {"'\\''", true, "\"'\""},
    {"\"\303\251\"", true, "\"\303\251\""},
    {"x", true, "x"},
    {"foo:bar", true, "foo:bar"},
    {":foo", true, ":foo"},
    {"foo_bar123", true, "foo_bar123"},
    {"x{}", true, "x"},
    {"x{a=\"b\"}", true, "x{a=\"b\"}"},
    {"x{a='b'}", true, "x{a=\"b\"}"},
    {"x{a=`\\d`}", true, "x{a=\"\\\\d\"}"},
    {"x{b=\"1\",a=\"2\"}", true, "x{a=\"2\",b=\"1\"}"},
    {"x{a=\"b\",}", true, "x{a=\"b\"}"},
    {"x{a=\"b\",c!=\"d\",e=~\"f\",g!~\"h\"}", true, "x{a=\"b\",c!=\"d\",e=~\"f\",g!~\"h\"}"},
    {"{__name__=\"x\"}", true, "{__name__=\"x\"}"},
    {"{__name__=\"x\", __name__=\"y\"}", true, "{__name__=\"x\",__name__=\"y\"}"},
    {"{a=~\".+\"}", true, "{a=~\".+\"}"},
    {"{a!=\"\"}", true, "{a!=\"\"}"},
    {"x{a=\"\"}", true, "x{a=\"\"}"},
    {"x{a=~\".*\"}", true, "x{a=~\".*\"}"},
    {"x{start=\"a\",end=\"b\",offset=\"c\",by=\"d\",sum=\"e\"}", true,
     "x{by=\"d\",end=\"b\",offset=\"c\",start=\"a\",sum=\"e\"}"},
    {"sum", true, "sum"},
    {"by", true, "by"},
    {"offset", true, "offset"},
    {"start", true, "start"},
    {"end", true, "end"},
    {"without", true, "without"},
    {"and", true, "and"},
    {"SUM(x)", true, "sum(x)"},
    {"x AND y", true, "x and y"},
    {"x[5m]", true, "x[5m]"},
    {"x[1h30m]", true, "x[1h30m]"},
    {"x[90m]", true, "x[1h30m]"},
    {"x[7d]", true, "x[1w]"},
    {"x[365d]", true, "x[1y]"},
    {"x[1y]", true, "x[1y]"},
    {"x[1y1d]", true, "x[366d]"},
    {"x[52w]", true, "x[52w]"},
    {"x[100d]", true, "x[100d]"},
    {"x[1m30s5ms]", true, "x[1m30s5ms]"},
    {"x[ 5m ]", true, "x[5m]"},
    {"x[1ms]", true, "x[1ms]"},
    {"x offset 5m", true, "x offset 5m"},
    {"x offset -5m", true, "x offset -5m"},
    {"x offset - 5m", true, "x offset -5m"},
    {"x offset 1h30m", true, "x offset 1h30m"},
    {"x offset 90m", true, "x offset 1h30m"},
    {"x[5m] offset 1h", true, "x[5m] offset 1h"},
    {"x @ 100", true, "x @ 100.000"},
    {"x @ 1.5", true, "x @ 1.500"},
    {"x @ 1.0005", true, "x @ 1.001"},
    {"x @ -5", true, "x @ -5.000"},
    {"x @ +5", true, "x @ 5.000"},
    {"x @ -1e3", true, "x @ -1000.000"},
    {"x @ start()", true, "x @ start()"},
    {"x @ end()", true, "x @ end()"},
    {"x offset 5m @ 10", true, "x @ 10.000 offset 5m"},
    {"x @ 10 offset 5m", true, "x @ 10.000 offset 5m"},
    {"x[5m] @ 10 offset 5m", true, "x[5m] @ 10.000 offset 5m"},
    {"x @ start() [5m]", true, "x[5m] @ start()"},
    {"x[5m:]", true, "x[5m:]"},
    {"x[5m:1m]", true, "x[5m:1m]"},
    {"x[5m: 1m]", true, "x[5m:1m]"},
    {"x[5m:1m] offset 1m", true, "x[5m:1m] offset 1m"},
    {"x[5m:] @ end() offset -1m", true, "x[5m:] @ end() offset -1m"},
    {"(x)[5m:]", true, "(x)[5m:]"},
    {"sum(x)[5m:1m]", true, "sum(x)[5m:1m]"},
    {"rate(x[5m])[5m:]", true, "rate(x[5m])[5m:]"},
    {"rate(x[5m:1m] offset 1m)", true, "rate(x[5m:1m] offset 1m)"},
    {"1 + 2", true, "1 + 2"},
    {"1+2*3", true, "1 + 2 * 3"},
    {"(1 + 2) * 3", true, "(1 + 2) * 3"},
    {"1 - 2 - 3", true, "1 - 2 - 3"},
    {"1 - (2 - 3)", true, "1 - (2 - 3)"},
    {"2 ^ 3 ^ 2", true, "2 ^ 3 ^ 2"},
    {"(2 ^ 3) ^ 2", true, "(2 ^ 3) ^ 2"},
    {"-2 ^ 2", true, "-2 ^ 2"},
    {"2 ^ -1", true, "2 ^ -1"},
    {"-x ^ 2", true, "-x ^ 2"},
    {"-x * 2", true, "-x * 2"},
    {"-x", true, "-x"},
    {"+x", true, "+x"},
    {"--x", true, "--x"},
    {"-(-x)", true, "-(-x)"},
    {"a * -b + c", true, "a * -b + c"},
    {"a + -b * c", true, "a + -b * c"},
    {"a or b and c", true, "a or b and c"},
    {"a and b or c", true, "a and b or c"},
    {"a or b unless c", true, "a or b unless c"},
    {"a unless b or c", true, "a unless b or c"},
    {"a + b > c * d", true, "a + b > c * d"},
    {"a == b and c != d", true, "a == b and c != d"},
    {"a > bool b", true, "a > bool b"},
    {"x == bool 1", true, "x == bool 1"},
    {"1 == bool 2", true, "1 == bool 2"},
    {"a atan2 b", true, "a atan2 b"},
    {"2 atan2 3", true, "2 atan2 3"},
    {"a % b / c * d", true, "a % b / c * d"},
    {"a + on(b) c", true, "a + on (b) c"},
    {"a + on() c", true, "a + on () c"},
    {"a + ignoring(b) c", true, "a + ignoring (b) c"},
    {"a * on(b) group_left(c) d", true, "a * on (b) group_left (c) d"},
    {"a * on(b) group_left d", true, "a * on (b) group_left () d"},
    {"a * ignoring(b) group_right(c, d) e", true, "a * ignoring (b) group_right (c, d) e"},
    {"a * ignoring() group_left b", true, "a * b"},
    {"a * ignoring() b", true, "a * b"},
    {"a and on(b) c", true, "a and on (b) c"},
    {"a unless on (b) c", true, "a unless on (b) c"},
    {"a or ignoring (b) c", true, "a or ignoring (b) c"},
    {"a > bool on(x) b", true, "a > bool on (x) b"},
    {"a + on(a) group_left y", true, "a + on (a) group_left () y"},
    {"a + b offset 5m", true, "a + b offset 5m"},
    {"sum(x)", true, "sum(x)"},
    {"sum by (a) (x)", true, "sum by (a) (x)"},
    {"sum(x) by (a)", true, "sum by (a) (x)"},
    {"sum by(a)(x)", true, "sum by (a) (x)"},
    {"sum by (a,b,) (x)", true, "sum by (a, b) (x)"},
    {"sum by () (x)", true, "sum(x)"},
    {"sum without () (x)", true, "sum without () (x)"},
    {"sum without (a, b) (x)", true, "sum without (a, b) (x)"},
    {"sum(x) without ()", true, "sum without () (x)"},
    {"avg(x)", true, "avg(x)"},
    {"count(x)", true, "count(x)"},
    {"min(x)", true, "min(x)"},
    {"max(x)", true, "max(x)"},
    {"group(x)", true, "group(x)"},
    {"stddev(x)", true, "stddev(x)"},
    {"stdvar(x)", true, "stdvar(x)"},
    {"topk(5, x)", true, "topk(5, x)"},
    {"bottomk(5, x)", true, "bottomk(5, x)"},
    {"quantile(0.9, x)", true, "quantile(0.9, x)"},
    {"quantile without (a) (0.5, x)", true, "quantile without (a) (0.5, x)"},
    {"count_values(\"a\", x)", true, "count_values(\"a\", x)"},
    {"count_values by (a) (\"b\", x)", true, "count_values by (a) (\"b\", x)"},
    {"sum by (start, end, and, offset, bool, on, atan2, group_left) (x)", true,
     "sum by (start, end, and, offset, bool, on, atan2, group_left) (x)"},
    {"sum(rate(x[5m])) by (job)", true, "sum by (job) (rate(x[5m]))"},
    {"1 + sum", true, "1 + sum"},
    {"x + by", true, "x + by"},
    {"x + on(a) offset", true, "x + on (a) offset"},
    {"abs(x)", true, "abs(x)"},
    {"absent(x)", true, "absent(x)"},
    {"absent_over_time(x[5m])", true, "absent_over_time(x[5m])"},
    {"rate(x[5m])", true, "rate(x[5m])"},
    {"irate(x[5m])", true, "irate(x[5m])"},
    {"increase(x[5m])", true, "increase(x[5m])"},
    {"delta(x[5m])", true, "delta(x[5m])"},
    {"idelta(x[5m])", true, "idelta(x[5m])"},
    {"deriv(x[5m])", true, "deriv(x[5m])"},
    {"changes(x[5m])", true, "changes(x[5m])"},
    {"resets(x[5m])", true, "resets(x[5m])"},
    {"predict_linear(x[5m], 60)", true, "predict_linear(x[5m], 60)"},
    {"holt_winters(x[5m], 0.5, 0.5)", true, "holt_winters(x[5m], 0.5, 0.5)"},
    {"histogram_quantile(0.9, rate(x[5m]))", true, "histogram_quantile(0.9, rate(x[5m]))"},
    {"histogram_count(x)", true, "histogram_count(x)"},
    {"histogram_sum(x)", true, "histogram_sum(x)"},
    {"histogram_fraction(0, 1, x)", true, "histogram_fraction(0, 1, x)"},
    {"label_replace(x, \"a\", \"$1\", \"b\", \"(.*)\")", true,
     "label_replace(x, \"a\", \"$1\", \"b\", \"(.*)\")"},
    {"label_join(x, \"a\", \",\", \"b\", \"c\", \"d\")", true,
     "label_join(x, \"a\", \",\", \"b\", \"c\", \"d\")"},
    {"clamp(x, 0, 1)", true, "clamp(x, 0, 1)"},
    {"clamp_max(x, 1)", true, "clamp_max(x, 1)"},
    {"clamp_min(x, 0)", true, "clamp_min(x, 0)"},
    {"round(x)", true, "round(x)"},
    {"round(x, 5)", true, "round(x, 5)"},
    {"hour()", true, "hour()"},
    {"hour(x)", true, "hour(x)"},
    {"day_of_week()", true, "day_of_week()"},
    {"time()", true, "time()"},
    {"pi()", true, "pi()"},
    {"vector(1)", true, "vector(1)"},
    {"scalar(x)", true, "scalar(x)"},
    {"sort(x)", true, "sort(x)"},
    {"sort_desc(x)", true, "sort_desc(x)"},
    {"timestamp(x)", true, "timestamp(x)"},
    {"quantile_over_time(0.5, x[5m])", true, "quantile_over_time(0.5, x[5m])"},
    {"sin(x) + cos(x) + tan(x) + asin(x) + acos(x) + atan(x)", true,
     "sin(x) + cos(x) + tan(x) + asin(x) + acos(x) + atan(x)"},
    {"sinh(x) + cosh(x) + tanh(x) + asinh(x) + acosh(x) + atanh(x)", true,
     "sinh(x) + cosh(x) + tanh(x) + asinh(x) + acosh(x) + atanh(x)"},
    {"deg(x) + rad(x) + sgn(x) + exp(x) + ln(x) + log2(x) + log10(x) + sqrt(x) + ceil(x) + "
     "floor(x)",
     true,
     "deg(x) + rad(x) + sgn(x) + exp(x) + ln(x) + log2(x) + log10(x) + sqrt(x) + ceil(x) + "
     "floor(x)"},
    {"year() + month() + day_of_month() + day_of_year() + days_in_month() + minute()", true,
     "year() + month() + day_of_month() + day_of_year() + days_in_month() + minute()"},
    {"avg_over_time(x[5m]) + min_over_time(x[5m]) + max_over_time(x[5m]) + sum_over_time(x[5m])",
     true,
     "avg_over_time(x[5m]) + min_over_time(x[5m]) + max_over_time(x[5m]) + sum_over_time(x[5m])"},
    {"(1)", true, "(1)"},
    {"((x))", true, "((x))"},
    {"x # comment", true, "x"},
    {"x[1y1w]", true, "x[372d]"},
    {"-0", true, "-0"},
    {"0x0", true, "0"},
    {"1e-5", true, "1e-05"},
    {"1000000", true, "1e+06"},
    {"0.000001234", true, "1.234e-06"},
    {"5e-324", true, "5e-324"},
    {"1.7976931348623157e308", true, "1.7976931348623157e+308"},
    {"1234567.8", true, "1.2345678e+06"},
    {"33.333333333333336", true, "33.333333333333336"},
    {"x @ 1e15", true, "x @ 1000000000000000.000"},
    {"x @ 1e16", true, "x @ -9223372036854776.000"},
};
static const struct golden invalid_cases[] = {
    {"", false, "1:1: parse error: no expression found in input"},
    {" ", false, "1:1: parse error: no expression found in input"},
    {"# c", false, "1:1: parse error: no expression found in input"},
    {"x +", false, "1:4: parse error: unexpected end of input"},
    {"(", false, "1:2: parse error: unclosed left parenthesis"},
    {")", false, "1:2: parse error: unexpected right parenthesis ')'"},
    {"(x", false, "1:3: parse error: unclosed left parenthesis"},
    {"x)", false, "1:3: parse error: unexpected right parenthesis ')'"},
    {"x y", false, "1:3: parse error: unexpected identifier \"y\""},
    {"1 2", false, "1:3: parse error: unexpected number \"2\""},
    {"sum(", false, "1:5: parse error: unclosed left parenthesis"},
    {"sum(x", false, "1:6: parse error: unclosed left parenthesis"},
    {"sum by", false, "1:7: parse error: unexpected end of input in grouping opts, expected \"(\""},
    {"sum by (", false, "1:9: parse error: unclosed left parenthesis"},
    {"sum by (a", false, "1:10: parse error: unclosed left parenthesis"},
    {"sum by (a,)", false, "1:12: parse error: unexpected end of input in aggregation"},
    {"sum by (a) x", false, "1:12: parse error: unexpected identifier \"x\" in aggregation"},
    {"sum x", false, "1:5: parse error: unexpected identifier \"x\""},
    {"sum(x) by", false,
     "1:10: parse error: unexpected end of input in grouping opts, expected \"(\""},
    {"sum(x) by (a) by (b)", false, "1:15: parse error: unexpected <by>"},
    {"sum by (a) (x) by (b)", false, "1:16: parse error: unexpected <by>"},
    {"sum by (a) by (b) (x)", false, "1:12: parse error: unexpected <by> in aggregation"},
    {"sum(x) by (a) (y)", false, "1:15: parse error: unexpected \"(\""},
    {"sum(x, y)", false,
     "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 1, "
     "got 2"},
    {"sum()", false, "1:1: parse error: no arguments for aggregate expression provided"},
    {"sum(x,)", false, "1:6: parse error: trailing commas not allowed in function call args"},
    {"topk(1)", false,
     "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, "
     "got 1"},
    {"topk(x)", false,
     "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, "
     "got 1"},
    {"count_values(x)", false,
     "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, "
     "got 1"},
    {"topk(\"a\", x)", false,
     "1:6: parse error: expected type scalar in aggregation parameter, got string"},
    {"count_values(1, x)", false,
     "1:14: parse error: expected type string in aggregation parameter, got scalar"},
    {"quantile(x, 1)", false,
     "1:13: parse error: expected type instant vector in aggregation expression, got scalar"},
    {"sum(x[5m])", false,
     "1:5: parse error: expected type instant vector in aggregation expression, got range vector"},
    {"sum(x y)", false, "1:7: parse error: unexpected identifier \"y\" in aggregation"},
    {"sum(rate(x[5m] 1))", false, "1:16: parse error: unexpected number \"1\" in aggregation"},
    {"sum(bool)", false, "1:5: parse error: unexpected <bool> in aggregation"},
    {"sum(on)", false, "1:5: parse error: unexpected <on> in aggregation"},
    {"sum by (a b) (x)", false,
     "1:11: parse error: unexpected identifier \"b\" in grouping opts, expected \",\" or \")\""},
    {"sum by (a:b) (x)", false,
     "1:9: parse error: unexpected metric identifier \"a:b\" in grouping opts, expected label"},
    {"sum by (a,,b) (x)", false,
     "1:11: parse error: unexpected \",\" in grouping opts, expected label"},
    {"sum by (1) (x)", false,
     "1:9: parse error: unexpected number \"1\" in grouping opts, expected label"},
    {"sum by (a.b) (x)", false, "1:10: parse error: unexpected character: '.'"},
    {"sum by (\"a\") (x)", false,
     "1:9: parse error: unexpected string \"\\\"a\\\"\" in grouping opts, expected label"},
    {"rate(x)", false,
     "1:6: parse error: expected type range vector in call to function \"rate\", got instant "
     "vector"},
    {"rate(x[5m], 1)", false,
     "1:1: parse error: expected 1 argument(s) in call to \"rate\", got 2"},
    {"rate(", false, "1:6: parse error: unclosed left parenthesis"},
    {"rate(x[5m]", false, "1:11: parse error: unclosed left parenthesis"},
    {"rate(x[5m],)", false, "1:11: parse error: trailing commas not allowed in function call args"},
    {"rate(x y)", false, "1:8: parse error: unexpected identifier \"y\""},
    {"rate(group_left)", false, "1:6: parse error: unexpected <group_left>"},
    {"rate(x[5m]) by (a)", false, "1:13: parse error: unexpected <by>"},
    {"round(x, 1, 2)", false,
     "1:1: parse error: expected at most 2 argument(s) in call to \"round\", got 3"},
    {"hour(x, y)", false,
     "1:1: parse error: expected at most 1 argument(s) in call to \"hour\", got 2"},
    {"label_join(x)", false,
     "1:1: parse error: expected at least 3 argument(s) in call to \"label_join\", got 1"},
    {"time(1)", false, "1:1: parse error: expected 0 argument(s) in call to \"time\", got 1"},
    {"foo(1)", false, "1:1: parse error: unknown function with name \"foo\""},
    {"foo(1 2)", false, "1:7: parse error: unexpected number \"2\""},
    {"1 + foo(x)", false, "1:5: parse error: unknown function with name \"foo\""},
    {"\"a\" + 1", false,
     "1:1: parse error: binary expression must contain only scalar and instant vector types"},
    {"x + \"a\"", false,
     "1:5: parse error: binary expression must contain only scalar and instant vector types"},
    {"x[5m] + 1", false,
     "1:1: parse error: binary expression must contain only scalar and instant vector types"},
    {"-x[5m]", false,
     "1:1: parse error: unary expression only allowed on expressions of type scalar or instant "
     "vector, got \"range vector\""},
    {"-\"a\"", false,
     "1:1: parse error: unary expression only allowed on expressions of type scalar or instant "
     "vector, got \"string\""},
    {"-sum(x)[5m:]", false,
     "1:1: parse error: unary expression only allowed on expressions of type scalar or instant "
     "vector, got \"range vector\""},
    {"1 > 2", false, "1:3: parse error: comparisons between scalars must use BOOL modifier"},
    {"x + bool y", false,
     "1:3: parse error: bool modifier can only be used on comparison operators"},
    {"x and 1", false,
     "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"},
    {"1 and x", false,
     "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"},
    {"x + on(a) 1", false,
     "1:1: parse error: vector matching only allowed between instant vectors"},
    {"a + on(b) group_left(b) c", false,
     "1:3: parse error: label \"b\" must not occur in ON and GROUP clause at once"},
    {"a and on(b) group_left c", false,
     "1:1: parse error: no grouping allowed for \"and\" operation"},
    {"x + on", false, "1:7: parse error: unexpected end of input in grouping opts, expected \"(\""},
    {"x + on(", false, "1:8: parse error: unclosed left parenthesis"},
    {"x + on(a", false, "1:9: parse error: unclosed left parenthesis"},
    {"x + on a", false,
     "1:8: parse error: unexpected identifier \"a\" in grouping opts, expected \"(\""},
    {"x + on(a b) y", false,
     "1:10: parse error: unexpected identifier \"b\" in grouping opts, expected \",\" or \")\""},
    {"x + on(a) group_left", false,
     "1:21: parse error: unexpected end of input in grouping opts, expected \"(\""},
    {"x + on(a) group_left(b", false, "1:23: parse error: unclosed left parenthesis"},
    {"x + bool", false, "1:9: parse error: unexpected end of input"},
    {"x + bool bool", false, "1:10: parse error: unexpected <bool>"},
    {"x == bool on(a) bool y", false, "1:17: parse error: unexpected <bool>"},
    {"x + on(a) bool", false, "1:11: parse error: unexpected <bool>"},
    {"x + on(a) on", false, "1:11: parse error: unexpected <on>"},
    {"x + on(a) ignoring", false, "1:11: parse error: unexpected <ignoring>"},
    {"x + group_left y", false, "1:5: parse error: unexpected <group_left>"},
    {"x + group_left(a) y", false, "1:5: parse error: unexpected <group_left>"},
    {"x == on(a) bool y", false, "1:12: parse error: unexpected <bool>"},
    {"x + * y", false, "1:5: parse error: unexpected <op:*>"},
    {"(+)", false, "1:3: parse error: unexpected \")\""},
    {"x + )", false, "1:6: parse error: unexpected right parenthesis ')'"},
    {"x ) y", false, "1:4: parse error: unexpected right parenthesis ')'"},
    {"x y)", false, "1:3: parse error: unexpected identifier \"y\""},
    {"(x))", false, "1:5: parse error: unexpected right parenthesis ')'"},
    {"sum(x))", false, "1:8: parse error: unexpected right parenthesis ')'"},
    {"1 ) 2", false, "1:4: parse error: unexpected right parenthesis ')'"},
    {"x offset 5m )", false, "1:14: parse error: unexpected right parenthesis ')'"},
    {"x + atan2 y", false, "1:5: parse error: unexpected <op:atan2>"},
    {"x start", false, "1:3: parse error: unexpected \"start\""},
    {"x end", false, "1:3: parse error: unexpected \"end\""},
    {"x BOOL", false, "1:3: parse error: unexpected <BOOL>"},
    {"x \"abcdefghijklmnop\"", false, "1:3: parse error: unexpected string \"\\\"abcdefghi\"..."},
    {"x 1234567890123", false, "1:3: parse error: unexpected number \"1234567890\"..."},
    {"x 5m", false, "1:3: parse error: unexpected duration \"5m\""},
    {"x AND", false, "1:6: parse error: unexpected end of input"},
    {"x + AND y", false, "1:9: parse error: unexpected identifier \"y\""},
    {"x sum", false, "1:3: parse error: unexpected <aggr:sum>"},
    {"x {", false, "1:4: parse error: unexpected end of input inside braces"},
    {"x (", false, "1:4: parse error: unclosed left parenthesis"},
    {"x ,", false, "1:3: parse error: unexpected \",\""},
    {"x :", false, "1:3: parse error: unexpected metric identifier \":\""},
    {"x [", false, "1:4: parse error: missing unit character in duration"},
    {"x ]", false, "1:3: parse error: unexpected right bracket ']'"},
    {"x = ", false, "1:3: parse error: unexpected \"=\""},
    {"x !=", false, "1:5: parse error: unexpected end of input"},
    {"x =~ \"a\"", false, "1:3: parse error: unexpected character after '=': '~'"},
    {"x ! y", false, "1:3: parse error: unexpected character after '!': ' '"},
    {"x = y", false, "1:3: parse error: unexpected \"=\""},
    {"x without", false, "1:3: parse error: unexpected <without>"},
    {"x ignoring", false, "1:3: parse error: unexpected <ignoring>"},
    {"x group_left", false, "1:3: parse error: unexpected <group_left>"},
    {"x count_values", false, "1:3: parse error: unexpected <aggr:count_values>"},
    {"x foo:bar", false, "1:3: parse error: unexpected metric identifier \"foo:bar\""},
    {"x Inf", false, "1:3: parse error: unexpected number \"Inf\""},
    {"bool", false, "1:1: parse error: unexpected <bool>"},
    {"on", false, "1:1: parse error: unexpected <on>"},
    {"group_left", false, "1:1: parse error: unexpected <group_left>"},
    {"ignoring", false, "1:1: parse error: unexpected <ignoring>"},
    {"atan2", false, "1:1: parse error: unexpected <op:atan2>"},
    {"@", false, "1:1: parse error: unexpected \"<Item 57385>\" <op:@>"},
    {"x + ignoring", false,
     "1:13: parse error: unexpected end of input in grouping opts, expected \"(\""},
    {"{}", false, "1:1: parse error: vector selector must contain at least one non-empty matcher"},
    {"{a=~\".*\"}", false,
     "1:1: parse error: vector selector must contain at least one non-empty matcher"},
    {"{a!~\"x\"}", false,
     "1:1: parse error: vector selector must contain at least one non-empty matcher"},
    {"x{__name__=\"y\"}", false,
     "1:1: parse error: metric name must not be set twice: \"x\" or \"y\""},
    {"x{", false, "1:3: parse error: unexpected end of input inside braces"},
    {"x{a", false, "1:4: parse error: unexpected end of input inside braces"},
    {"x{a=", false, "1:5: parse error: unexpected end of input inside braces"},
    {"x{a=\"b\"", false, "1:8: parse error: unexpected end of input inside braces"},
    {"x{,}", false,
     "1:3: parse error: unexpected \",\" in label matching, expected identifier or \"}\""},
    {"x{a=\"b\" c=\"d\"}", false,
     "1:9: parse error: unexpected identifier \"c\" in label matching, expected \",\" or \"}\""},
    {"x{a~\"b\"}", false, "1:4: parse error: unexpected character inside braces: '~'"},
    {"x{a=b}", false,
     "1:5: parse error: unexpected identifier \"b\" in label matching, expected string"},
    {"x{\"a\"=\"b\"}", false,
     "1:3: parse error: unexpected string \"\\\"a\\\"\" in label matching, expected identifier or "
     "\"}\""},
    {"x{a=\"b\"}{c=\"d\"}", false, "1:9: parse error: unexpected \"{\""},
    {"{a=\"b\"}{c=\"d\"}", false, "1:8: parse error: unexpected \"{\""},
    {"x{a=\"b\"}}", false, "1:9: parse error: unexpected character: '}'"},
    {"x}", false, "1:2: parse error: unexpected character: '}'"},
    {"x{a=1}", false, "1:5: parse error: unexpected character inside braces: '1'"},
    {"x{a}", false,
     "1:4: parse error: unexpected \"}\" in label matching, expected label matching operator"},
    {"x{a!}", false, "1:4: parse error: unexpected character after '!' inside braces: '}'"},
    {"x{a=~}", false, "1:6: parse error: unexpected \"}\" in label matching, expected string"},
    {"x{a=\"b\" c}", false,
     "1:9: parse error: unexpected identifier \"c\" in label matching, expected \",\" or \"}\""},
    {"x{a=\"b\",,}", false,
     "1:9: parse error: unexpected \",\" in label matching, expected identifier or \"}\""},
    {"{a=\"b\", c=\"d\"} x", false, "1:16: parse error: unexpected identifier \"x\""},
    {"x{a.b=\"c\"}", false, "1:4: parse error: unexpected character inside braces: '.'"},
    {"x offset", false, "1:9: parse error: unexpected end of input in offset, expected duration"},
    {"x offset 5", false,
     "1:10: parse error: unexpected number \"5\" in offset, expected duration"},
    {"x offset abc", false,
     "1:10: parse error: unexpected identifier \"abc\" in offset, expected duration"},
    {"x offset 0s", false, "1:10: parse error: duration must be greater than 0"},
    {"x offset -0s", false, "1:11: parse error: duration must be greater than 0"},
    {"x offset 5m offset 3m", false, "1:1: parse error: offset may not be set multiple times"},
    {"x offset 5m 5m", false, "1:13: parse error: unexpected duration \"5m\""},
    {"x[5m] offset 5m offset 1m", false, "1:1: parse error: offset may not be set multiple times"},
    {"x[5m:] offset 5m offset 1m", false, "1:1: parse error: offset may not be set multiple times"},
    {"1 offset 5m", false,
     "1:1: parse error: offset modifier must be preceded by an instant vector selector or range "
     "vector selector or a subquery"},
    {"(x) offset 5m", false,
     "1:1: parse error: offset modifier must be preceded by an instant vector selector or range "
     "vector selector or a subquery"},
    {"sum(x) offset 5m", false,
     "1:1: parse error: offset modifier must be preceded by an instant vector selector or range "
     "vector selector or a subquery"},
    {"x @", false, "1:4: parse error: unexpected end of input in @, expected timestamp"},
    {"x @ foo", false, "1:5: parse error: unexpected identifier \"foo\" in @, expected timestamp"},
    {"x @ start", false, "1:10: parse error: unexpected end of input in @, expected timestamp"},
    {"x @ start(1)", false, "1:11: parse error: unexpected number \"1\" in @, expected timestamp"},
    {"x @ (1)", false, "1:5: parse error: unexpected \"(\" in @, expected timestamp"},
    {"x @ - ", false, "1:7: parse error: unexpected end of input in @, expected timestamp"},
    {"x @ Inf", false, "1:1: parse error: timestamp out of bounds for @ modifier: +Inf"},
    {"x @ 1e30", false,
     "1:1: parse error: timestamp out of bounds for @ modifier: "
     "1000000000000000019884624838656.000000"},
    {"x @ 1 @ 2", false, "1:1: parse error: @ <timestamp> may not be set multiple times"},
    {"x @ start() @ end()", false, "1:1: parse error: @ <timestamp> may not be set multiple times"},
    {"sum(x) @ 1", false,
     "1:1: parse error: @ modifier must be preceded by an instant vector selector or range vector "
     "selector or a subquery"},
    {"(x) @ 1", false,
     "1:1: parse error: @ modifier must be preceded by an instant vector selector or range vector "
     "selector or a subquery"},
    {"x[5m] [3m]", false, "1:7: parse error: ranges only allowed for vector selectors"},
    {"x[5m:1m][1m:]", false,
     "1:1: parse error: subquery is only allowed on instant vector, got matrix instead"},
    {"1[5m:]", false,
     "1:1: parse error: subquery is only allowed on instant vector, got scalar instead"},
    {"\"a\"[5m:]", false,
     "1:1: parse error: subquery is only allowed on instant vector, got string instead"},
    {"x offset 5m [5m]", false, "1:13: parse error: no offset modifiers allowed before range"},
    {"x @ 5 [5m]", false, "1:7: parse error: no @ modifiers allowed before range"},
    {"(x)[5m]", false, "1:4: parse error: ranges only allowed for vector selectors"},
    {"sum(x)[5m]", false, "1:7: parse error: ranges only allowed for vector selectors"},
    {"x[5m:1m:1m]", false, "1:8: parse error: unexpected colon ':'"},
    {"x[5]", false, "1:3: parse error: missing unit character in duration"},
    {"x[5m", false, "1:5: parse error: unclosed left bracket"},
    {"x[]", false, "1:3: parse error: missing unit character in duration"},
    {"x[30s1m]", false, "1:3: parse error: not a valid duration string: \"30s1m\""},
    {"x[0s]", false, "1:3: parse error: duration must be greater than 0"},
    {"x[-5m]", false, "1:3: parse error: missing unit character in duration"},
    {"x[a]", false, "1:3: parse error: bad duration syntax: \"\""},
    {"x[5m:a]", false, "1:6: parse error: unexpected colon 'a'"},
    {"x[:5m]", false, "1:3: parse error: missing unit character in duration"},
    {"x[5m:", false, "1:6: parse error: unclosed left bracket"},
    {"x[5m:]]", false, "1:7: parse error: unexpected right bracket ']'"},
    {"x[5m 1m]", false,
     "1:6: parse error: unexpected duration \"1m\" in subquery or range, expected \":\" or \"]\""},
    {"x[5m:1m 2m]", false,
     "1:9: parse error: unexpected duration \"2m\" in subquery selector, expected \"]\""},
    {"x[5m:\"a\"]", false,
     "1:6: parse error: unexpected string \"\\\"a\\\"\" in subquery selector, expected duration or "
     "\"]\""},
    {"x[5m:1]", false,
     "1:6: parse error: unexpected number \"1\" in subquery selector, expected duration or \"]\""},
    {"x[5m: 1m", false, "1:9: parse error: unclosed left bracket"},
    {"x[300y]", false, "1:3: parse error: duration out of range"},
    {"x[1.5m]", false, "1:3: parse error: not a valid duration string: \"1.5m\""},
    {"x[5m:0s]", false, "1:6: parse error: duration must be greater than 0"},
    {"0x", false,
     "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"0x\": invalid syntax"},
    {"1e", false,
     "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"1e\": invalid syntax"},
    {"1e+", false,
     "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"1e+\": invalid syntax"},
    {"1_000", false, "1:1: parse error: bad number or duration syntax: \"1\""},
    {"1e400", false,
     "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"1e400\": value out of "
     "range"},
    {"0xFFFFFFFFFFFFFFFFF", false,
     "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"0xFFFFFFFFFFFFFFFFF\": "
     "invalid syntax"},
    {"\"\\q\"", false, "1:1: parse error: unknown escape sequence U+0071 'q'"},
    {"\"a", false, "1:1: parse error: unterminated quoted string"},
    {"'a", false, "1:1: parse error: unterminated quoted string"},
    {"`a", false, "1:1: parse error: unterminated raw string"},
    {"'\\\"'", false, "1:1: parse error: unknown escape sequence U+0022 '\"'"},
    {"\"\\x4\"", false, "1:1: parse error: illegal character U+0022 '\"' in escape sequence"},
    {"\"\\u00\"", false, "1:1: parse error: illegal character U+0022 '\"' in escape sequence"},
    {"\"\\400\"", false, "1:1: parse error: escape sequence is an invalid Unicode code point"},
    {"\"\\uD800\"", false, "1:1: parse error: escape sequence is an invalid Unicode code point"},
    {"x $", false, "1:3: parse error: unexpected character: '$'"},
    {"\303\251", false, "1:1: parse error: unexpected character: '\303\251'"},
    {"group(0.5[1d1y]) by ()[2w:]", false, "1:11: parse error: bad duration syntax: \"1d1\""},
    {"1 atan2 bool {}[5m1y]", false, "1:17: parse error: bad duration syntax: \"5m1\""},
    {"x offset 5m1y", false, "1:10: parse error: bad number or duration syntax: \"5m1\""},
    {"label_replace(count_values(- -1)", false, "1:33: parse error: unclosed left parenthesis"},
    {"topk() ] [ \"open and$}", false, "1:8: parse error: unexpected right bracket ']'"},
    {"sum(x) ~", false, "1:8: parse error: unexpected character: '~'"},
    {"sum by (a) (x) ~", false, "1:16: parse error: unexpected character: '~'"},
    {"x[5m1y]", false, "1:3: parse error: bad duration syntax: \"5m1\""},
};

static int
parse_print(const char *q, char *out, size_t outsz, ts_error *err)
{
    ts_arena a;
    ts_arena_init(&a, 0);
    ts_promql_expr *e = NULL;
    int rc = ts_promql_parse(&a, q, strlen(q), &e, err);
    if (rc == 0) {
        snprintf(out, outsz, "%s", ts_promql_to_string(&a, e));
        ts_promql_expr_free(e);
    }
    ts_arena_fini(&a);
    return rc;
}

static void
test_valid_golden(void)
{
    int bad = 0;
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        const struct golden *g = &valid_cases[i];
        char got[1024], again[1024];
        ts_error err;
        int rc = parse_print(g->query, got, sizeof(got), &err);
        if (rc != 0) {
            fprintf(stderr, "  query %s: unexpected error %s\n", g->query, err.msg);
            bad++;
            continue;
        }
        if (strcmp(got, g->want) != 0) {
            fprintf(stderr, "  query %s: printed %s, want %s\n", g->query, got, g->want);
            bad++;
            continue;
        }
        rc = parse_print(got, again, sizeof(again), &err);
        if (rc != 0 || strcmp(again, got) != 0) {
            fprintf(stderr, "  round trip of %s: %s\n", got, rc ? err.msg : again);
            bad++;
        }
    }
    T_EQ(bad, 0);
}

static void
test_invalid_golden(void)
{
    int bad = 0;
    for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]); i++) {
        const struct golden *g = &invalid_cases[i];
        char got[1024];
        ts_error err;
        ts_error_clear(&err);
        int rc = parse_print(g->query, got, sizeof(got), &err);
        if (rc != TS_EPARSE) {
            fprintf(stderr, "  query %s: rc %d (printed %s), want error %s\n", g->query, rc,
                    rc == 0 ? got : "-", g->want);
            bad++;
            continue;
        }
        if (strcmp(err.msg, g->want) != 0) {
            fprintf(stderr, "  query %s:\n     got  %s\n     want %s\n", g->query, err.msg,
                    g->want);
            bad++;
        }
    }
    T_EQ(bad, 0);
}

/* Regex errors: the position and the prefix are Prometheus', the rest is the regex engine's
 * own wording (PCRE2 here, Go's regexp there), e.g. Prometheus says
 * "error parsing regexp: missing closing ): `^(?:()$`". */
static void
test_regex_error(void)
{
    char got[256];
    ts_error err;
    T_EQ(parse_print("x{a=~\"(\"}", got, sizeof(got), &err), TS_EPARSE);
    T_TRUE(strncmp(err.msg, "1:3: parse error: error parsing regexp: ", 40) == 0);
    T_EQ(parse_print("foo(x{a=~\"(\"})", got, sizeof(got), &err), TS_EPARSE);
    T_TRUE(strncmp(err.msg, "1:7: parse error: error parsing regexp: ", 40) == 0);
    T_EQ(err.pos, 6);
    T_EQ(err.line, 1);
    T_EQ(err.col, 7);
}

/* ---- Tree shape and node fields ---------------------------------------------------------- */

typedef struct parsed {
    ts_arena arena;
    ts_promql_expr *e;
    ts_error err;
    int rc;
} parsed;

static void
P(parsed *p, const char *q)
{
    ts_arena_init(&p->arena, 0);
    p->e = NULL;
    p->rc = ts_promql_parse(&p->arena, q, strlen(q), &p->e, &p->err);
}

static void
P_done(parsed *p)
{
    ts_promql_expr_free(p->e);
    ts_arena_fini(&p->arena);
}

#define BIN(e) (&(e)->u.bin)

static void
test_precedence(void)
{
    parsed p;
    /* 1 + 2 * 3 = 1 + (2 * 3) */
    P(&p, "1 + 2 * 3");
    T_OK(p.rc);
    T_EQ(p.e->kind, TS_PROMQL_BINARY);
    T_EQ(BIN(p.e)->op, TS_PROMQL_OP_ADD);
    T_EQ(BIN(p.e)->rhs->kind, TS_PROMQL_BINARY);
    T_EQ(BIN(BIN(p.e)->rhs)->op, TS_PROMQL_OP_MUL);
    T_EQ(p.e->type, TS_PROMQL_VT_SCALAR);
    T_TRUE(BIN(p.e)->matching == NULL);
    P_done(&p);

    /* -2 ^ 2 = -(2 ^ 2): ^ binds tighter than unary minus */
    P(&p, "-2 ^ 2");
    T_OK(p.rc);
    T_EQ(p.e->kind, TS_PROMQL_UNARY);
    T_EQ(p.e->u.unary.op, TS_PROMQL_OP_SUB);
    T_EQ(p.e->u.unary.expr->kind, TS_PROMQL_BINARY);
    T_EQ(BIN(p.e->u.unary.expr)->op, TS_PROMQL_OP_POW);
    P_done(&p);

    /* -a * b = (-a) * b */
    P(&p, "-a * b");
    T_OK(p.rc);
    T_EQ(p.e->kind, TS_PROMQL_BINARY);
    T_EQ(BIN(p.e)->lhs->kind, TS_PROMQL_UNARY);
    P_done(&p);

    /* 2 ^ 3 ^ 2 = 2 ^ (3 ^ 2): right-associative */
    P(&p, "2 ^ 3 ^ 2");
    T_OK(p.rc);
    T_EQ(BIN(p.e)->lhs->kind, TS_PROMQL_NUMBER);
    T_EQ(BIN(p.e)->rhs->kind, TS_PROMQL_BINARY);
    P_done(&p);

    /* 1 - 2 - 3 = (1 - 2) - 3: left-associative */
    P(&p, "1 - 2 - 3");
    T_OK(p.rc);
    T_EQ(BIN(p.e)->lhs->kind, TS_PROMQL_BINARY);
    T_EQ(BIN(p.e)->rhs->kind, TS_PROMQL_NUMBER);
    T_FEQ(BIN(p.e)->rhs->u.number, 3);
    P_done(&p);

    /* a or b and c = a or (b and c); set operators are many-to-many */
    P(&p, "a or b and c");
    T_OK(p.rc);
    T_EQ(BIN(p.e)->op, TS_PROMQL_OP_LOR);
    T_EQ(BIN(BIN(p.e)->rhs)->op, TS_PROMQL_OP_LAND);
    T_EQ(BIN(p.e)->matching->card, TS_PROMQL_CARD_MANY_TO_MANY);
    T_EQ(BIN(BIN(p.e)->rhs)->matching->card, TS_PROMQL_CARD_MANY_TO_MANY);
    P_done(&p);

    /* comparisons bind looser than arithmetic: a + b > c * d */
    P(&p, "a + b > c * d");
    T_OK(p.rc);
    T_EQ(BIN(p.e)->op, TS_PROMQL_OP_GTR);
    T_EQ(BIN(BIN(p.e)->lhs)->op, TS_PROMQL_OP_ADD);
    T_EQ(BIN(BIN(p.e)->rhs)->op, TS_PROMQL_OP_MUL);
    T_EQ(BIN(p.e)->matching->card, TS_PROMQL_CARD_ONE_TO_ONE);
    P_done(&p);

    /* offset binds to the nearest selector: a + (b offset 5m) */
    P(&p, "a + b offset 5m");
    T_OK(p.rc);
    T_EQ(BIN(p.e)->lhs->u.vs.original_offset, 0);
    T_EQ(BIN(p.e)->rhs->u.vs.original_offset, 300000);
    P_done(&p);

    /* unary minus on a literal folds into it, position starting at the sign */
    P(&p, "- - 1");
    T_OK(p.rc);
    T_EQ(p.e->kind, TS_PROMQL_NUMBER);
    T_FEQ(p.e->u.number, 1);
    T_EQ(p.e->pos.start, 0);
    T_EQ(p.e->pos.end, 5);
    P_done(&p);
}

static void
test_selectors(void)
{
    parsed p;
    P(&p, "foo{a=\"b\",c=~\"d.*\"} offset -5m @ 123.4567");
    T_OK(p.rc);
    T_EQ(p.e->kind, TS_PROMQL_VECTOR_SELECTOR);
    T_EQ(p.e->type, TS_PROMQL_VT_VECTOR);
    ts_promql_vector_selector *vs = &p.e->u.vs;
    T_STREQ(vs->name, "foo");
    T_EQ(vs->nmatchers, 3);
    T_STREQ(vs->matchers[0]->name, "a");
    T_EQ(vs->matchers[1]->type, TS_MATCH_RE);
    T_STREQ(vs->matchers[2]->name, "__name__"); /* the name matcher comes last */
    T_STREQ(vs->matchers[2]->value, "foo");
    T_EQ(vs->original_offset, -300000);
    T_EQ(vs->offset, -300000);
    T_EQ(vs->at, TS_PROMQL_AT_TIMESTAMP);
    T_EQ(vs->at_ms, 123457);
    T_EQ(p.e->pos.start, 0);
    T_EQ(p.e->pos.end, strlen("foo{a=\"b\",c=~\"d.*\"} offset -5m @ 123.4567"));
    P_done(&p);

    P(&p, "{__name__=\"x\"}");
    T_OK(p.rc);
    T_TRUE(p.e->u.vs.name == NULL);
    T_EQ(p.e->u.vs.nmatchers, 1);
    P_done(&p);

    P(&p, "x[5m] @ start()");
    T_OK(p.rc);
    T_EQ(p.e->kind, TS_PROMQL_MATRIX_SELECTOR);
    T_EQ(p.e->type, TS_PROMQL_VT_MATRIX);
    T_EQ(p.e->u.ms.range_ms, 300000);
    T_EQ(p.e->u.ms.vs->u.vs.at, TS_PROMQL_AT_START);
    P_done(&p);

    P(&p, "sum(x)[5m:1m] offset 1m @ end()");
    T_OK(p.rc);
    T_EQ(p.e->kind, TS_PROMQL_SUBQUERY);
    T_EQ(p.e->u.sq.range_ms, 300000);
    T_EQ(p.e->u.sq.step_ms, 60000);
    T_EQ(p.e->u.sq.original_offset, 60000);
    T_EQ(p.e->u.sq.at, TS_PROMQL_AT_END);
    T_EQ(p.e->u.sq.expr->kind, TS_PROMQL_AGGREGATE);
    P_done(&p);

    P(&p, "x[1h:]");
    T_OK(p.rc);
    T_EQ(p.e->u.sq.step_ms, 0);
    P_done(&p);
}

static void
test_calls_and_aggregations(void)
{
    parsed p;
    P(&p, "rate(x[5m])");
    T_OK(p.rc);
    T_EQ(p.e->kind, TS_PROMQL_CALL);
    T_TRUE(p.e->u.call.func == ts_promql_function_get(TS_PROMQL_FN_RATE));
    T_EQ(p.e->u.call.nargs, 1);
    T_EQ(p.e->u.call.args[0]->kind, TS_PROMQL_MATRIX_SELECTOR);
    P_done(&p);

    P(&p, "time()");
    T_OK(p.rc);
    T_EQ(p.e->type, TS_PROMQL_VT_SCALAR);
    T_EQ(p.e->u.call.nargs, 0);
    P_done(&p);

    P(&p, "topk by (a, b) (5, x)");
    T_OK(p.rc);
    ts_promql_aggregate *a = &p.e->u.agg;
    T_EQ(a->op, TS_PROMQL_AGG_TOPK);
    T_FEQ(a->param->u.number, 5);
    T_EQ(a->expr->kind, TS_PROMQL_VECTOR_SELECTOR);
    T_EQ(a->ngrouping, 2);
    T_STREQ(a->grouping[1], "b");
    T_FALSE(a->without);
    T_TRUE(a->has_grouping);
    P_done(&p);

    P(&p, "count_values without () (\"v\", x)");
    T_OK(p.rc);
    T_EQ(p.e->u.agg.op, TS_PROMQL_AGG_COUNT_VALUES);
    T_EQ(p.e->u.agg.param->kind, TS_PROMQL_STRING);
    T_STREQ(p.e->u.agg.param->u.string.p, "v");
    T_TRUE(p.e->u.agg.without);
    T_EQ(p.e->u.agg.ngrouping, 0);
    P_done(&p);

    P(&p, "sum(x)");
    T_OK(p.rc);
    T_FALSE(p.e->u.agg.has_grouping);
    T_TRUE(p.e->u.agg.param == NULL);
    P_done(&p);
}

static void
test_binary_matching(void)
{
    parsed p;
    P(&p, "a * on(b) group_left(c) d");
    T_OK(p.rc);
    ts_promql_vector_matching *vm = BIN(p.e)->matching;
    T_TRUE(vm != NULL);
    T_EQ(vm->card, TS_PROMQL_CARD_MANY_TO_ONE);
    T_TRUE(vm->on);
    T_EQ(vm->nlabels, 1);
    T_STREQ(vm->labels[0], "b");
    T_EQ(vm->ninclude, 1);
    T_STREQ(vm->include[0], "c");
    P_done(&p);

    P(&p, "a / ignoring(b) group_right d");
    T_OK(p.rc);
    T_EQ(BIN(p.e)->matching->card, TS_PROMQL_CARD_ONE_TO_MANY);
    T_FALSE(BIN(p.e)->matching->on);
    T_EQ(BIN(p.e)->matching->ninclude, 0);
    P_done(&p);

    P(&p, "x > bool 1");
    T_OK(p.rc);
    T_TRUE(BIN(p.e)->return_bool);
    T_TRUE(BIN(p.e)->matching == NULL); /* not vector-vector */
    T_EQ(p.e->type, TS_PROMQL_VT_VECTOR);
    P_done(&p);

    P(&p, "a atan2 b");
    T_OK(p.rc);
    T_EQ(BIN(p.e)->op, TS_PROMQL_OP_ATAN2);
    P_done(&p);
}

static void
test_literals(void)
{
    static const struct {
        const char *q;
        double v;
    } nums[] = {
        {"0x1F", 31}, {"017", 15},    {"08", 8},       {"1e3", 1000},     {".5", 0.5},
        {"5.", 5},    {"-1.5", -1.5}, {"1E-3", 0.001}, {"Inf", INFINITY}, {"-inf", -INFINITY},
    };
    parsed p;
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        P(&p, nums[i].q);
        T_OK(p.rc);
        T_EQ(p.e->kind, TS_PROMQL_NUMBER);
        T_FEQ(p.e->u.number, nums[i].v);
        P_done(&p);
    }
    P(&p, "NaN");
    T_OK(p.rc);
    T_TRUE(isnan(p.e->u.number));
    P_done(&p);

    /* Go escapes: \u00e9 is two UTF-8 bytes, \x41 and \101 are 'A' */
    P(&p, "\"\\u00e9\\x41\\101\\n\\\\\\\"\"");
    T_OK(p.rc);
    T_EQ(p.e->kind, TS_PROMQL_STRING);
    T_EQ(p.e->type, TS_PROMQL_VT_STRING);
    T_STREQ(p.e->u.string.p, "\xc3\xa9"
                             "AA\n\\\"");
    T_EQ(p.e->u.string.len, 7);
    P_done(&p);

    P(&p, "'it\\'s'");
    T_OK(p.rc);
    T_STREQ(p.e->u.string.p, "it's");
    P_done(&p);

    P(&p, "`raw\\n`");
    T_OK(p.rc);
    T_STREQ(p.e->u.string.p, "raw\\n");
    P_done(&p);

    /* a \x00 escape survives in a string literal */
    P(&p, "\"a\\x00b\"");
    T_OK(p.rc);
    T_EQ(p.e->u.string.len, 3);
    T_EQ(p.e->u.string.p[1], 0);
    P_done(&p);
}

static void
test_error_positions(void)
{
    parsed p;
    P(&p, "x +\n\n  )");
    T_EQ(p.rc, TS_EPARSE);
    T_STREQ(p.err.msg, "3:4: parse error: unexpected right parenthesis ')'");
    T_EQ(p.err.code, TS_EPARSE);
    T_EQ(p.err.line, 3);
    T_EQ(p.err.col, 4);
    T_EQ(p.err.pos, 8);
    T_TRUE(p.e == NULL);
    P_done(&p);

    P(&p, "sum(\n  rate(x)\n)");
    T_EQ(p.rc, TS_EPARSE);
    T_STREQ(p.err.msg, "2:8: parse error: expected type range vector in call to function \"rate\", "
                       "got instant vector");
    P_done(&p);

    /* a NUL byte in the input is just an unexpected character */
    ts_arena_init(&p.arena, 0);
    p.rc = ts_promql_parse(&p.arena, "x\0y", 3, &p.e, &p.err);
    T_EQ(p.rc, TS_EPARSE);
    T_STREQ(p.err.msg, "1:2: parse error: unexpected character: '\\x00'");
    P_done(&p);

    /* the input need not be NUL-terminated: only len bytes are read */
    ts_arena_init(&p.arena, 0);
    p.rc = ts_promql_parse(&p.arena, "up{a=\"b\"} + garbage", 9, &p.e, &p.err);
    T_OK(p.rc);
    T_STREQ(ts_promql_to_string(&p.arena, p.e), "up{a=\"b\"}");
    P_done(&p);
}

static void
test_limits(void)
{
    size_t n = TS_PROMQL_MAX_QUERY_LEN + 1;
    char *big = ts_malloc(n);
    memset(big, ' ', n);
    big[0] = '1';
    parsed p;
    ts_arena_init(&p.arena, 0);
    p.rc = ts_promql_parse(&p.arena, big, n, &p.e, &p.err);
    T_EQ(p.rc, TS_ELIMIT);
    ts_arena_fini(&p.arena);

    /* deep nesting fails cleanly instead of exhausting the stack */
    size_t depth = 100000;
    for (size_t i = 0; i < depth; i++)
        big[i] = '(';
    big[depth] = '1';
    for (size_t i = 0; i < depth; i++)
        big[depth + 1 + i] = ')';
    ts_arena_init(&p.arena, 0);
    p.rc = ts_promql_parse(&p.arena, big, 2 * depth + 1, &p.e, &p.err);
    T_EQ(p.rc, TS_EPARSE);
    T_TRUE(strstr(p.err.msg, "nested too deeply") != NULL);
    ts_arena_fini(&p.arena);

    /* so does a long left-deep operator chain (parsed by a loop, but deep as a tree) */
    size_t o = 0;
    for (size_t i = 0; i < 5000; i++) {
        big[o++] = '1';
        big[o++] = '+';
    }
    big[o++] = '1';
    ts_arena_init(&p.arena, 0);
    p.rc = ts_promql_parse(&p.arena, big, o, &p.e, &p.err);
    T_EQ(p.rc, TS_EPARSE);
    T_TRUE(strstr(p.err.msg, "nested too deeply") != NULL);
    ts_arena_fini(&p.arena);

    /* a chain within the limit parses */
    o = 0;
    for (size_t i = 0; i < 500; i++) {
        big[o++] = 'x';
        big[o++] = '+';
    }
    big[o++] = 'x';
    ts_arena_init(&p.arena, 0);
    p.rc = ts_promql_parse(&p.arena, big, o, &p.e, &p.err);
    T_OK(p.rc);
    P_done(&p);
    ts_free(big);
}

static void
test_matchers_freed_on_error(void)
{
    /* matchers built before a later error must not leak (ASan's leak check is the assertion) */
    parsed p;
    P(&p, "x{a=~\"b.*\"} + y{c!~\"d+\"} + foo(1)");
    T_EQ(p.rc, TS_EPARSE);
    T_STREQ(p.err.msg, "1:28: parse error: unknown function with name \"foo\"");
    P_done(&p);
    P(&p, "x{a=~\"b.*\"} + rate(y)");
    T_EQ(p.rc, TS_EPARSE);
    P_done(&p);
}

static void
test_series_selector(void)
{
    ts_matcher **m;
    size_t n;
    ts_error err;
    T_OK(ts_promql_parse_series_selector("up{job=\"x\",i=~\"a|b\"}", 20, &m, &n, &err));
    T_EQ(n, 3);
    T_STREQ(m[0]->name, "job");
    T_EQ(m[1]->type, TS_MATCH_RE);
    T_TRUE(ts_matcher_matches(m[1], "b"));
    T_STREQ(m[2]->name, "__name__");
    T_STREQ(m[2]->value, "up");
    ts_promql_matchers_free(m, n);

    const char *s = "{__name__=~\"job:.*\"}";
    T_OK(ts_promql_parse_series_selector(s, strlen(s), &m, &n, &err));
    T_EQ(n, 1);
    ts_promql_matchers_free(m, n);

    s = "{a=\"\"}";
    T_EQ(ts_promql_parse_series_selector(s, strlen(s), &m, &n, &err), TS_EPARSE);
    T_STREQ(err.msg,
            "1:1: parse error: vector selector must contain at least one non-empty matcher");
    T_TRUE(m == NULL);
    s = "up + 1";
    T_EQ(ts_promql_parse_series_selector(s, strlen(s), &m, &n, &err), TS_EPARSE);
    T_STREQ(err.msg, "1:4: parse error: unexpected <op:+>");
    s = "rate(x[5m])";
    T_EQ(ts_promql_parse_series_selector(s, strlen(s), &m, &n, &err), TS_EPARSE);
    s = "x{a=~\"b\"}[5m]";
    T_EQ(ts_promql_parse_series_selector(s, strlen(s), &m, &n, &err), TS_EPARSE);
}

static void
test_number_duration_helpers(void)
{
    double v;
    T_OK(ts_promql_parse_number("0x10", 4, &v));
    T_FEQ(v, 16);
    T_OK(ts_promql_parse_number("-1.5e2", 6, &v));
    T_FEQ(v, -150);
    T_OK(ts_promql_parse_number("+Inf", 4, &v));
    T_TRUE(isinf(v) && v > 0);
    T_OK(ts_promql_parse_number("1e-400", 6, &v)); /* underflow is not an error in Go */
    T_EQ(ts_promql_parse_number("1e", 2, &v), TS_EPARSE);
    T_EQ(ts_promql_parse_number("1e400", 5, &v), TS_EPARSE);
    T_EQ(ts_promql_parse_number("abc", 3, &v), TS_EPARSE);
    T_EQ(ts_promql_parse_number("", 0, &v), TS_EPARSE);

    int64_t ms;
    T_OK(ts_promql_parse_duration("1h30m", 5, &ms));
    T_EQ(ms, 5400000);
    T_OK(ts_promql_parse_duration("1y2w3d4h5m6s7ms", 15, &ms));
    T_EQ(ms, 365LL * 86400000 + 14LL * 86400000 + 3LL * 86400000 + 4 * 3600000 + 5 * 60000 + 6007);
    T_OK(ts_promql_parse_duration("10ms", 4, &ms));
    T_EQ(ms, 10);
    T_EQ(ts_promql_parse_duration("30s1m", 5, &ms), TS_EPARSE);
    T_EQ(ts_promql_parse_duration("1h1h", 4, &ms), TS_EPARSE);
    T_EQ(ts_promql_parse_duration("5", 1, &ms), TS_EPARSE);
    T_EQ(ts_promql_parse_duration("", 0, &ms), TS_EPARSE);
    T_EQ(ts_promql_parse_duration("300y", 4, &ms), TS_EPARSE); /* beyond Go's time.Duration */
}

static void
test_function_table(void)
{
    for (int i = 0; i < TS_PROMQL_FN__COUNT; i++) {
        const ts_promql_function *f = ts_promql_function_get((ts_promql_func_id)i);
        T_TRUE(f != NULL);
        T_EQ(f->id, i);
        T_TRUE(ts_promql_function_lookup(f->name, strlen(f->name)) == f);
        T_TRUE(f->nargs >= 0 && f->nargs <= TS_PROMQL_FUNC_MAX_ARGS);
    }
    T_EQ(TS_PROMQL_FN__COUNT, 70);
    T_TRUE(ts_promql_function_get(TS_PROMQL_FN__COUNT) == NULL);
    const ts_promql_function *f = ts_promql_function_lookup("label_join", 10);
    T_EQ(f->variadic, -1);
    T_EQ(f->nargs, 4);
    T_EQ(f->arg_types[3], TS_PROMQL_VT_STRING);
    f = ts_promql_function_lookup("histogram_quantile", 18);
    T_EQ(f->arg_types[0], TS_PROMQL_VT_SCALAR);
    T_EQ(f->arg_types[1], TS_PROMQL_VT_VECTOR);
    f = ts_promql_function_lookup("round", 5);
    T_EQ(f->variadic, 1);
    T_EQ(ts_promql_function_lookup("scalar", 6)->return_type, TS_PROMQL_VT_SCALAR);
    /* functions added after 2.42 are unknown */
    T_TRUE(ts_promql_function_lookup("histogram_avg", 13) == NULL);
    T_TRUE(ts_promql_function_lookup("mad_over_time", 13) == NULL);
    T_TRUE(ts_promql_function_lookup("rat", 3) == NULL);

    T_STREQ(ts_promql_value_type_str(TS_PROMQL_VT_MATRIX), "matrix");
    T_STREQ(ts_promql_value_type_doc(TS_PROMQL_VT_MATRIX), "range vector");
    T_STREQ(ts_promql_op_str(TS_PROMQL_OP_LUNLESS), "unless");
    T_STREQ(ts_promql_agg_op_str(TS_PROMQL_AGG_COUNT_VALUES), "count_values");
    T_TRUE(ts_promql_agg_op_has_param(TS_PROMQL_AGG_QUANTILE));
    T_FALSE(ts_promql_agg_op_has_param(TS_PROMQL_AGG_GROUP));
    T_TRUE(ts_promql_op_is_comparison(TS_PROMQL_OP_GTE));
    T_FALSE(ts_promql_op_is_comparison(TS_PROMQL_OP_POW));
    T_TRUE(ts_promql_op_is_set(TS_PROMQL_OP_LOR));
}

static void
test_children(void)
{
    parsed p;
    P(&p, "topk(3, rate(x[5m]) + -y)");
    T_OK(p.rc);
    ts_promql_expr **c0 = ts_promql_expr_child(p.e, 0), **c1 = ts_promql_expr_child(p.e, 1);
    T_TRUE(c0 && *c0 == p.e->u.agg.param);
    T_TRUE(c1 && *c1 == p.e->u.agg.expr);
    T_TRUE(ts_promql_expr_child(p.e, 2) == NULL);
    ts_promql_expr *bin = *c1;
    T_TRUE(*ts_promql_expr_child(bin, 1) == bin->u.bin.rhs);
    T_TRUE(ts_promql_expr_child(bin->u.bin.rhs->u.unary.expr, 0) == NULL); /* selector: none */
    /* replacing a child through its slot: wrap the rhs in a step-invariant node */
    ts_promql_expr *si = TS_ARENA_NEW(&p.arena, ts_promql_expr);
    si->kind = TS_PROMQL_STEP_INVARIANT;
    si->type = bin->u.bin.rhs->type;
    si->u.step_invariant = bin->u.bin.rhs;
    *ts_promql_expr_child(bin, 1) = si;
    T_STREQ(ts_promql_to_string(&p.arena, p.e), "topk(3, rate(x[5m]) + -y)");
    P_done(&p); /* still frees the wrapped selector's matchers */
}

static void
test_printer_bounded(void)
{
    parsed p;
    P(&p, "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m]))");
    T_OK(p.rc);
    ts_buf b;
    ts_buf_init(&b, 10);
    T_EQ(ts_promql_format(p.e, &b), TS_ELIMIT);
    ts_buf_fini(&b);
    ts_buf_init(&b, 0);
    T_OK(ts_promql_format(p.e, &b));
    T_EQ(b.len, strlen("sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m]))"));
    ts_buf_fini(&b);
    P_done(&p);
}

int
main(int argc, char **argv)
{
    static const t_case cases[] = {
        {"valid_golden", test_valid_golden},
        {"invalid_golden", test_invalid_golden},
        {"regex_error", test_regex_error},
        {"precedence", test_precedence},
        {"selectors", test_selectors},
        {"calls_and_aggregations", test_calls_and_aggregations},
        {"binary_matching", test_binary_matching},
        {"literals", test_literals},
        {"error_positions", test_error_positions},
        {"limits", test_limits},
        {"matchers_freed_on_error", test_matchers_freed_on_error},
        {"series_selector", test_series_selector},
        {"number_duration_helpers", test_number_duration_helpers},
        {"function_table", test_function_table},
        {"children", test_children},
        {"printer_bounded", test_printer_bounded},
    };
    return t_run(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
