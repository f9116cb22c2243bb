/*
 * hosted_int.h - declarations shared between the files of hosted/ only.
 */
#ifndef STSD_HOSTED_INT_H
#define STSD_HOSTED_INT_H

#include "hosted/hosted.h"

/* Audit rows (manage.c; the table is sql/'s). `now` unix seconds; old_id, new_id, detail may
 * be NULL. 0 or -1. Every change hosted/ makes calls it once. */
int hosted__audit(struct hosted *h, const char *actor, const char *action, const char *domain,
                  const char *old_id, const char *new_id, const char *detail, int64_t now);

#endif
