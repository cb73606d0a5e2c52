#include "cmd/tessera/flags.h"
#include "pkg/util/mem.h"

#include <stdio.h>
#include <string.h>

ts_flag *
ts_flags_get(ts_flag *flags, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(flags[i].name, name) == 0)
            return &flags[i];
    return NULL;
}

static void
usage(const ts_flag *flags, size_t n, const char *cmd)
{
    printf("usage: tessera %s [<flags>]\n\nFlags:\n", cmd);
    for (size_t i = 0; i < n; i++)
        printf("  --%-36s %s%s%s%s\n", flags[i].name, flags[i].help,
               flags[i].def && flags[i].def[0] ? " (default: " : "",
               flags[i].def && flags[i].def[0] ? flags[i].def : "",
               flags[i].def && flags[i].def[0] ? ")" : "");
}

int
ts_flags_parse(ts_flag *flags, size_t n, int argc, char **argv, const char *cmd, bool *help)
{
    *help = false;
    for (size_t i = 0; i < n; i++) {
        flags[i].value = flags[i].def;
        flags[i].on =
            flags[i].kind == TS_FLAG_BOOL && flags[i].def && strcmp(flags[i].def, "true") == 0;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(flags, n, cmd);
            *help = true;
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "tessera %s: unexpected argument %s\n", cmd, a);
            return 2;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        ts_flag *f = NULL;
        bool negated = false;
        for (size_t k = 0; k < n && !f; k++)
            if (strlen(flags[k].name) == nlen && strncmp(flags[k].name, name, nlen) == 0)
                f = &flags[k];
        if (!f && nlen > 3 && strncmp(name, "no-", 3) == 0) {
            for (size_t k = 0; k < n && !f; k++)
                if (flags[k].kind == TS_FLAG_BOOL && strlen(flags[k].name) == nlen - 3 &&
                    strncmp(flags[k].name, name + 3, nlen - 3) == 0)
                    f = &flags[k];
            negated = f != NULL;
        }
        if (!f) {
            fprintf(stderr, "tessera %s: error: unknown long flag '--%.*s', try --help\n", cmd,
                    (int)nlen, name);
            return 2;
        }
        f->set = true;
        if (f->kind == TS_FLAG_BOOL) {
            if (eq && !negated) {
                if (strcmp(eq + 1, "true") == 0)
                    f->on = true;
                else if (strcmp(eq + 1, "false") == 0)
                    f->on = false;
                else {
                    fprintf(stderr, "tessera %s: error: invalid boolean value '%s' for --%s\n", cmd,
                            eq + 1, f->name);
                    return 2;
                }
            } else {
                f->on = !negated;
            }
            continue;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tessera %s: error: expected argument for flag '--%s'\n", cmd,
                        f->name);
                return 2;
            }
            val = argv[++i];
        }
        if (f->kind == TS_FLAG_STRING) {
            f->value = val;
        } else {
            f->values = ts_realloc(f->values, (f->nvalues + 1) * sizeof(char *));
            f->values[f->nvalues++] = val;
        }
    }
    return 0;
}

void
ts_flags_free(ts_flag *flags, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ts_free(flags[i].values);
        flags[i].values = NULL;
        flags[i].nvalues = 0;
    }
}
