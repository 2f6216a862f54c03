/* Flags: defaults, environment twins, command line precedence, validation. */
#include "common/flags.h"

#include <criterion/criterion.h>
#include <stdlib.h>

static const char *name;
static int64_t count;
static uint64_t size;
static bool on;
static sgs_strlist list;

static sgs_flag table[] = {
    {"name", "SGS_TEST_NAME", SGS_FLAG_STR, "dflt", "a name", &name, 0, 0},
    {"count", "SGS_TEST_COUNT", SGS_FLAG_INT, "3", "a count", &count, 1, 10},
    {"size", "SGS_TEST_SIZE", SGS_FLAG_SIZE, "1K", "a size", &size, 0, 0},
    {"on", "SGS_TEST_ON", SGS_FLAG_BOOL, "false", "a switch", &on, 0, 0},
    {"item", "SGS_TEST_ITEM", SGS_FLAG_STR_LIST, NULL, "items", &list, 0, 0},
};
#define N_FLAGS (sizeof table / sizeof table[0])

static int parse(int argc, char **argv, sgs_err *err)
{
    const char *pos[4];
    size_t n_pos;
    return sgs_flags_parse(table, N_FLAGS, argc, argv, pos, 4, &n_pos, err);
}

static void clear_env(void)
{
    unsetenv("SGS_TEST_NAME");
    unsetenv("SGS_TEST_COUNT");
    unsetenv("SGS_TEST_ITEM");
}

Test(flags, defaults_apply, .init = clear_env)
{
    char *argv[] = {"prog"};
    sgs_err err = {0};
    cr_assert_eq(parse(1, argv, &err), SGS_FLAGS_RUN);
    cr_assert_str_eq(name, "dflt");
    cr_assert_eq(count, 3);
    cr_assert_eq(size, 1024);
    cr_assert_not(on);
    cr_assert_eq(list.n, 0);
}

Test(flags, flag_beats_env_beats_default, .init = clear_env)
{
    setenv("SGS_TEST_NAME", "from-env", 1);
    setenv("SGS_TEST_COUNT", "5", 1);
    char *argv[] = {"prog", "--name", "from-flag", "--size=2M", "--on"};
    sgs_err err = {0};
    cr_assert_eq(parse(5, argv, &err), SGS_FLAGS_RUN);
    cr_assert_str_eq(name, "from-flag");
    cr_assert_eq(count, 5);
    cr_assert_eq(size, 2u << 20);
    cr_assert(on);
}

Test(flags, repeatable_list_and_env_csv, .init = clear_env)
{
    setenv("SGS_TEST_ITEM", "a,b", 1);
    char *argv1[] = {"prog"};
    sgs_err err = {0};
    cr_assert_eq(parse(1, argv1, &err), SGS_FLAGS_RUN);
    cr_assert_eq(list.n, 2);
    char *argv2[] = {"prog", "--item", "x", "--item=y", "--item", "z"};
    cr_assert_eq(parse(6, argv2, &err), SGS_FLAGS_RUN);
    cr_assert_eq(list.n, 3);
    cr_assert_str_eq(list.items[2], "z");
    sgs_strlist_fini(&list);
}

Test(flags, errors_name_the_flag, .init = clear_env)
{
    sgs_err err = {0};
    char *bad_int[] = {"prog", "--count", "11"};
    cr_assert_eq(parse(3, bad_int, &err), SGS_EUSAGE);
    cr_assert(strstr(err.msg, "--count") != NULL);
    sgs_err_clear(&err);
    char *unknown[] = {"prog", "--nope"};
    cr_assert_eq(parse(2, unknown, &err), SGS_EUSAGE);
    cr_assert(strstr(err.msg, "--nope") != NULL);
    sgs_err_clear(&err);
    char *missing[] = {"prog", "--name"};
    cr_assert_eq(parse(2, missing, &err), SGS_EUSAGE);
    sgs_err_clear(&err);
    setenv("SGS_TEST_COUNT", "abc", 1);
    char *argv[] = {"prog"};
    cr_assert_eq(parse(1, argv, &err), SGS_EUSAGE);
    cr_assert(strstr(err.msg, "SGS_TEST_COUNT") != NULL);
}

Test(flags, help_and_version, .init = clear_env)
{
    sgs_err err = {0};
    char *help[] = {"prog", "--help"};
    cr_assert_eq(parse(2, help, &err), SGS_FLAGS_HELP);
    char *version[] = {"prog", "--version"};
    cr_assert_eq(parse(2, version, &err), SGS_FLAGS_VERSION);
}

Test(flags, sizes)
{
    uint64_t v;
    cr_assert_eq(sgs_parse_size("512", &v), 0);
    cr_assert_eq(v, 512);
    cr_assert_eq(sgs_parse_size("1.5G", &v), 0);
    cr_assert_eq(v, 3ull << 29);
    cr_assert_eq(sgs_parse_size("16MiB", &v), 0);
    cr_assert_eq(v, 16ull << 20);
    cr_assert_neq(sgs_parse_size("12Q", &v), 0);
    cr_assert_neq(sgs_parse_size("-1", &v), 0);
}

Test(err, first_error_wins_and_table_maps_status)
{
    sgs_err err = {0};
    cr_assert_eq(sgs_err_set(&err, SGS_ECORRUPT, "inner %d", 1), SGS_ECORRUPT);
    sgs_err_set(&err, SGS_EIO, "outer");
    cr_assert_eq(err.code, SGS_ECORRUPT);
    cr_assert_str_eq(err.msg, "inner 1");
    cr_assert_str_eq(sgs_err_type(SGS_EBADREQ), "bad_request");
    cr_assert_eq(sgs_err_http_status(SGS_EBADREQ), 400);
    cr_assert_eq(sgs_err_http_status(SGS_EBUSY), 429);
    cr_assert_eq(sgs_err_http_status(12345), 500);
}
