#include "cmd/tessera/flags.h"
#include "tests/testutil/t.h"

static ts_flag *
fresh(void)
{
    static ts_flag f[4];
    ts_flag init[4] = {
        {"config.file", TS_FLAG_STRING, "prometheus.yml", "config"},
        {"web.enable-lifecycle", TS_FLAG_BOOL, "false", "lifecycle"},
        {"query.partial-response", TS_FLAG_BOOL, "true", "partial"},
        {"store", TS_FLAG_LIST, "", "stores"},
    };
    memcpy(f, init, sizeof(f));
    return f;
}

static void
test_forms(void)
{
    ts_flag *f = fresh();
    char *argv[] = {"shard",     "--config.file=a.yml", "--web.enable-lifecycle",     "--store",
                    "tcp://a:1", "--store=tcp://b:2",   "--no-query.partial-response"};
    bool help;
    T_OK(ts_flags_parse(f, 4, 7, argv, "shard", &help));
    T_STREQ(f[0].value, "a.yml");
    T_TRUE(f[1].on);
    T_FALSE(f[2].on);
    T_EQ(f[3].nvalues, 2);
    T_STREQ(f[3].values[1], "tcp://b:2");
    T_TRUE(ts_flags_get(f, 4, "store") == &f[3]);
    ts_flags_free(f, 4);
}

static void
test_defaults_and_errors(void)
{
    ts_flag *f = fresh();
    char *argv1[] = {"shard"};
    bool help;
    T_OK(ts_flags_parse(f, 4, 1, argv1, "shard", &help));
    T_STREQ(f[0].value, "prometheus.yml");
    T_FALSE(f[1].on);
    T_TRUE(f[2].on);
    T_FALSE(f[0].set);
    char *argv2[] = {"shard", "--bogus=1"};
    T_NE(ts_flags_parse(f, 4, 2, argv2, "shard", &help), 0);
    char *argv3[] = {"shard", "--config.file"};
    T_NE(ts_flags_parse(f, 4, 2, argv3, "shard", &help), 0);
    char *argv4[] = {"shard", "--web.enable-lifecycle=maybe"};
    T_NE(ts_flags_parse(f, 4, 2, argv4, "shard", &help), 0);
    char *argv5[] = {"shard", "positional"};
    T_NE(ts_flags_parse(f, 4, 2, argv5, "shard", &help), 0);
    ts_flags_free(f, 4);
}

T_MAIN({"forms", test_forms}, {"defaults_and_errors", test_defaults_and_errors})
