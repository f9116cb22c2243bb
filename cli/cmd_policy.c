/* cmd_policy.c - 'stsd policy' (placeholder until its issue lands). */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

int cmd_policy(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: stsd policy ...\n\nnot implemented yet\n");
        return 0;
    }
    cli_error("policy: not implemented yet");
    return EXIT_UNAVAILABLE;
}
