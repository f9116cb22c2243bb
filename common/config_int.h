/* config_int.h - declarations shared by the files of common/ that read the configuration:
 * the table of keys (config_keys.c) and the code that reads and writes them (config.c). */
#ifndef STSD_CONFIG_INT_H
#define STSD_CONFIG_INT_H

#include "common/config.h"

#include <stddef.h>

/* What a key takes, and so how its value is read and stored. */
enum config_kind {
    CK_INT,      /* a decimal number in [lo, hi]: an int, or a 64-bit field */
    CK_SIZE,     /* "10M" (parse_size) in [lo, hi] bytes: uint64_t */
    CK_DURATION, /* "6h" (parse_duration) in [lo, hi] seconds, or a word of `words` for 0 */
    CK_REAL,     /* a decimal fraction in [lo, hi], optionally followed by `words` ("/s") */
    CK_CHOICE,   /* one of `words` ("off|on"): its index, or values[index]: an int */
    CK_STR,      /* a string `valid` accepts; without a default, nothing or `words` is NULL */
    CK_LIST,     /* strings separated by commas or blanks, each one `valid`; a repeated key
                  * adds to the list. char ** and its count at off_n */
    CK_CIDRS,    /* the same for address ranges (config_parse_cidr): struct cfg_cidr * */
};

struct config_key {
    const char *name;
    enum config_kind kind;
    size_t off, width, off_n;
    double lo, hi;
    const char *words;
    const int *values;
    int (*valid)(char *v); /* may rewrite v into its canonical form */
    const char *def;       /* the default, as it would be written in the file; NULL: none.
                            * A list's default is its content when no line names it. */
    const char *fix;       /* what follows "[section] key = 'value' " in an error */
};

struct config_section {
    const char *name;
    const struct config_key *keys;
    size_t n;
};

/* [server], [tls], [reports], [admin], [checks], [alerts]: every key stsd.conf may hold. */
extern const struct config_section config__sections[];
extern const size_t config__n_sections;

#endif
