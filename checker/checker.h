/* checker.h - stsd check (SPEC §7): placeholder until issue 4. */
#ifndef STSD_CHECKER_H
#define STSD_CHECKER_H
#endif
