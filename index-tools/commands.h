/* The subcommands of sgs-index. Each takes the arguments after the
 * subcommand name (argv[0] is the subcommand) and returns the exit status. */
#ifndef SGS_INDEX_TOOLS_COMMANDS_H
#define SGS_INDEX_TOOLS_COMMANDS_H

#define SGS_VERSION "0.1.0"

/* sgs-index build: JSON Lines in, shard files and a manifest out. */
int idx_build_main(int argc, char **argv);

/* sgs-index verify DIR|FILE: exit 0 only when every checksum and invariant holds. */
int idx_verify_main(int argc, char **argv);

/* sgs-index inspect DIR|FILE: counts, section sizes, frequent terms, postings. */
int idx_inspect_main(int argc, char **argv);

#endif
