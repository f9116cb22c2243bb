/* cmd_reports.c - 'stsd reports' (placeholder until its issue lands). */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

int cmd_reports(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: stsd reports ...\n\nnot implemented yet\n");
        return 0;
    }
    cli_error("reports: not implemented yet");
    return EXIT_UNAVAILABLE;
}
