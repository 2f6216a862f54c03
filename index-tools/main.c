/* sgs-index: the offline indexer. Dispatches to build, verify and inspect. */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "index-tools/commands.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sgs-index <command> [flags]\n"
            "  build    JSON Lines in, shard files and manifest out\n"
            "  verify   check every checksum and invariant of an index or shard file\n"
            "  inspect  counts, section sizes, frequent terms, one term's postings\n"
            "Run 'sgs-index <command> --help' for a command's flags.\n");
}

int main(int argc, char **argv)
{
    sgs_log_init("sgs-index", SGS_LOG_INFO);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "build"))
        return idx_build_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "verify"))
        return idx_verify_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "inspect"))
        return idx_inspect_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("sgs-index %s\n", SGS_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "sgs-index: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
