#include "pkg/rules/rulefmt.h"
#include "tests/testutil/t.h"
static void test_placeholder(void) { T_EQ(ts_rule_file_count(NULL), 0); }
T_MAIN({"placeholder", test_placeholder})
